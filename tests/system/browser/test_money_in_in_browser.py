"""Money in, in a real browser (issue 21): a seller asks for a top-up in the
portal with the transfer's evidence and its receipt file; above the four-eyes
threshold one staff member's approval in the admin leaves the balance as it
was, and a second staff member's approval credits it exactly once. Both staff
sign in with the code their authenticator shows (required here, as in
production). Screenshots land in tests/artifacts/screenshots/."""

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from credits.models import CreditRequest
from ledger.models import LedgerEntry
from tests.helpers.books import assert_books_balance
from tests.helpers.otp import code_for, give_authenticator
from tests.helpers.receipts import PNG
from tests.portal.helpers import PASSWORD, with_password
from tests.system.browser.chromium import screenshot

START_BALANCE = 1_000_000
AMOUNT = 40_000_000


@pytest.fixture
def seller(make_seller):
    return with_password(make_seller(name="Golestan Mobile", balance=START_BALANCE).user).seller


@pytest.fixture
def approvers(db):
    users = get_user_model().objects
    return [with_password(users.create_superuser(name, f"{name}@example.com", "unused")) for name in ("ava", "bahram")]


@pytest.fixture(autouse=True)
def money_in_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FOUR_EYES_CREDIT_THRESHOLD = 10_000_000
    settings.STAFF_TWO_FACTOR = "required"


def _wait(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout).until(condition)


def _open(browser, live_server, path):
    browser.get(live_server.url + path)
    _wait(browser, lambda driver: driver.execute_script("return document.readyState") == "complete")


def _present(browser, selector):
    return _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))


def _seller_asks(browser, live_server, seller, receipt_path):
    _open(browser, live_server, "/portal/login/")
    browser.find_element(By.NAME, "username").send_keys(seller.user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _present(browser, "#balance")
    _open(browser, live_server, "/portal/credit-requests/")
    browser.find_element(By.NAME, "amount").send_keys(str(AMOUNT))
    Select(browser.find_element(By.NAME, "bank")).select_by_value("mellat")
    browser.find_element(By.NAME, "tracking_number").send_keys("PAYA-20261206-0042")
    # The browser's own date box: its typing order depends on the locale, so the value is set.
    day = browser.find_element(By.NAME, "transferred_on")
    browser.execute_script("arguments[0].value = '2026-12-06'", day)
    browser.find_element(By.NAME, "receipt").send_keys(str(receipt_path))
    browser.find_element(By.ID, "ask").click()
    _present(browser, ".messages li.success")
    assert "PAYA-20261206-0042" in browser.find_element(By.ID, "credit-requests").text
    screenshot(browser, "40-portal-credit-request-with-receipt")
    browser.delete_all_cookies()


def _staff_signs_in(browser, live_server, user, device):
    _open(browser, live_server, "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _present(browser, "#id_code")  # the password alone does not open the admin
    assert browser.find_elements(By.ID, "user-tools") == []
    browser.find_element(By.ID, "id_code").send_keys(code_for(device))
    browser.find_element(By.ID, "verify").click()
    _present(browser, "#user-tools")


def _approve(browser, live_server, credit_request) -> str:
    _open(browser, live_server, f"/admin/credits/creditrequest/{credit_request.pk}/change/")
    browser.find_element(By.ID, "approve").click()
    _present(browser, "#confirm").click()
    return _present(browser, ".messagelist li").text


def test_a_receipted_request_credits_once_on_the_second_approval(browser, live_server, seller, approvers, tmp_path):
    receipt_path = tmp_path / "receipt.png"
    receipt_path.write_bytes(PNG)
    devices = [give_authenticator(user) for user in approvers]
    _seller_asks(browser, live_server, seller, receipt_path)
    credit_request = CreditRequest.objects.get(seller=seller, status="pending")
    assert credit_request.receipt.name.endswith(".png")
    assert (credit_request.bank, credit_request.tracking_number) == ("mellat", "PAYA-20261206-0042")

    _staff_signs_in(browser, live_server, approvers[0], devices[0])
    _open(browser, live_server, f"/admin/credits/creditrequest/{credit_request.pk}/change/")
    receipt = browser.find_element(By.LINK_TEXT, "Open the receipt").get_attribute("href")
    message = _approve(browser, live_server, credit_request)
    assert message.startswith(f"Top-up request #{credit_request.pk} approved once: nothing credited yet")
    screenshot(browser, "41-admin-first-of-two-approvals")
    seller.refresh_from_db()
    assert seller.balance == START_BALANCE
    assert not LedgerEntry.objects.filter(credit_request=credit_request).exists()
    _open(browser, live_server, "/admin/credits/creditrequest/?status__exact=awaiting_second_approval")
    assert browser.find_elements(By.CSS_SELECTOR, f"input[name=_selected_action][value='{credit_request.pk}']")
    # The first approver is offered no second Approve (Reject stays), and the
    # approval's own address refuses them; nothing moves.
    _open(browser, live_server, f"/admin/credits/creditrequest/{credit_request.pk}/change/")
    assert browser.find_elements(By.ID, "approve") == [] and browser.find_elements(By.ID, "reject")
    _open(browser, live_server, f"/admin/credits/creditrequest/{credit_request.pk}/approve/")
    assert "second, different staff member" in _present(browser, ".messagelist li").text
    seller.refresh_from_db()
    assert seller.balance == START_BALANCE
    browser.delete_all_cookies()

    _staff_signs_in(browser, live_server, approvers[1], devices[1])
    browser.get(receipt)  # the second approver checks the receipt the seller sent
    assert browser.execute_script("return document.contentType") == "image/png"
    message = _approve(browser, live_server, credit_request)
    assert message.startswith(f"Top-up request #{credit_request.pk} approved")
    screenshot(browser, "42-admin-second-approval")
    _open(browser, live_server, f"/admin/credits/creditrequest/{credit_request.pk}/approve/")  # once more: nothing
    browser.delete_all_cookies()

    seller.refresh_from_db()
    assert seller.balance == START_BALANCE + AMOUNT
    credited = LedgerEntry.objects.filter(credit_request=credit_request)
    assert list(credited.values_list("amount", "balance_after")) == [(AMOUNT, START_BALANCE + AMOUNT)]
    credit_request.refresh_from_db()
    assert (credit_request.first_approved_by, credit_request.decided_by) == tuple(approvers)
    assert_books_balance()
