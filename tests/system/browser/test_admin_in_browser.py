"""The admin in Persian in a real browser at 1366 x 768, the smallest screen
staff use: the recharges and ledger lists fit it (no column pushed off the
table), numbers read 0912 123 4567 left to right, and a top-up request is
approved from its own page (Approve, then the question's Yes) exactly once.
Screenshots land in tests/artifacts/screenshots/."""

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from credits.services import request_credit
from ledger.models import LedgerEntry
from recharges.delivery import resolve_recharge
from recharges.models import Operator, Recharge
from recharges.services import sell_recharge
from tests.portal.helpers import PASSWORD, with_password
from tests.system.browser.chromium import SCREENSHOTS, screenshot

SCREEN = (1366, 768)


@pytest.fixture
def staff(db):
    return with_password(get_user_model().objects.create_superuser("boss", "boss@example.com", "unused"))


@pytest.fixture
def sales(make_seller, staff):
    """Recharges in every state, from sellers with long names, as a busy day's list shows them."""
    Operator.objects.filter(code="mci").update(name_fa="همراه اول")
    Operator.objects.filter(code="irancell").update(name_fa="ایرانسل")
    sellers = [make_seller(name=name, balance=50_000_000) for name in ("فروشگاه موبایل گلستان", "Corner Shop Tehran")]
    for seller in sellers:
        for phone, amount in [("+989121234567", 50_000), ("+989351234567", 1_000_000), ("+989131112233", 200_000)]:
            sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount)
    for number, recharge in enumerate(Recharge.objects.order_by("pk")[:4]):
        resolve_recharge(
            recharge_id=recharge.pk, successful=number % 2 == 0, operator_reference="OP-1", resolved_by=staff
        )
    Recharge.objects.filter(status="pending").update(last_error="Operator gateway timed out after 10 s; asking again")
    return sellers


def _wait(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout).until(condition)


def _open(browser, live_server, path):
    browser.get(live_server.url + path)
    _wait(browser, lambda driver: driver.execute_script("return document.readyState") == "complete")


def _log_in_in_persian(browser, live_server, staff):
    browser.set_window_size(*SCREEN)
    _open(browser, live_server, "/admin/login/")
    browser.add_cookie({"name": "django_language", "value": "fa"})  # what the language switch sets
    _open(browser, live_server, "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(staff.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # Logged in once the admin shows its user tools: navigating sooner would abort the login's POST.
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))


def _overflow(browser) -> dict:
    """How far the list and the page reach past what the screen shows (0: they fit)."""
    return browser.execute_script(
        """const list = document.querySelector('.results'), page = document.documentElement;
        return {list: list.scrollWidth - list.clientWidth, page: page.scrollWidth - page.clientWidth};"""
    )


@pytest.mark.parametrize("path", ["/admin/recharges/recharge/", "/admin/ledger/ledgerentry/"])
def test_the_lists_fit_1366_pixels_in_persian(browser, live_server, staff, sales, path):
    _log_in_in_persian(browser, live_server, staff)
    _open(browser, live_server, path)
    assert browser.execute_script("return document.documentElement.dir") == "rtl"
    assert browser.execute_script("return innerWidth") == SCREEN[0]
    assert _overflow(browser) == {"list": 0, "page": 0}
    phones = browser.find_elements(By.CSS_SELECTOR, "#result_list span[dir=ltr]")
    assert "0912 123 4567" in {phone.text for phone in phones}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the screen as staff see it, not the whole page
    browser.save_screenshot(str(SCREENSHOTS / f"30-admin-fa-{path.split('/')[3]}-1366.png"))


def test_a_top_up_is_approved_from_its_page_once(browser, live_server, staff, sales):
    seller = sales[0]
    seller.refresh_from_db()
    balance = seller.balance
    pending = request_credit(seller_id=seller.pk, amount=3_000_000)
    _log_in_in_persian(browser, live_server, staff)
    _open(browser, live_server, f"/admin/credits/creditrequest/{pending.pk}/change/")
    assert browser.find_elements(By.NAME, "_save") == []
    screenshot(browser, "31-admin-fa-credit-request")
    browser.find_element(By.ID, "approve").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "confirm")))
    assert f"از {balance:,} ریال به {balance + 3_000_000:,} ریال" in browser.find_element(By.ID, "outcome").text
    screenshot(browser, "32-admin-fa-credit-request-approve")
    browser.find_element(By.ID, "confirm").click()
    message = _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist li")))
    assert (
        message.text
        == f"درخواست افزایش اعتبار #{pending.pk} تأیید شد: 3,000,000 ریال به موجودی {seller.name} افزوده شد."
    )
    assert browser.find_elements(By.ID, "approve") == []
    _open(browser, live_server, f"/admin/credits/creditrequest/{pending.pk}/approve/")  # asked again: no question
    assert browser.find_elements(By.ID, "confirm") == []
    assert browser.find_element(By.CSS_SELECTOR, ".messagelist li.warning").text.endswith("چیزی تغییر نکرد.")

    seller.refresh_from_db()
    assert seller.balance == balance + 3_000_000
    assert list(LedgerEntry.objects.filter(credit_request=pending).values_list("amount", "balance_after")) == [
        (3_000_000, balance + 3_000_000)
    ]
