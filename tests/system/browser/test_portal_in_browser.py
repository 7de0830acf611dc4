"""The seller portal and the admin in a real browser (Debian's Chromium,
headless) against the live server: log in, sell through the form, a double
submit sells once, the statement CSV equals the API's /transactions/, Persian
pages are right-to-left with Jalali dates, staff approve a top-up in the admin.
Every page visited is saved as a screenshot under tests/artifacts/screenshots/."""

import csv
import re

import pytest
import requests
from django.contrib.auth import get_user_model
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from credits.models import CreditRequest
from ledger.models import LedgerEntry
from recharges.models import Recharge
from recharges.services import sell_recharge
from sellers.models import Seller
from sellers.services import issue_api_token
from tests.portal.helpers import PASSWORD, with_password
from tests.system.browser.chromium import screenshot, wait_for_file

START_BALANCE = 1_000_000


@pytest.fixture
def seller(make_seller):
    seller = make_seller(name="Golestan Mobile", balance=START_BALANCE)
    with_password(seller.user)
    return seller


def _wait(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout).until(condition)


def _open(browser, live_server, path):
    browser.get(live_server.url + path)
    _wait(browser, lambda driver: driver.execute_script("return document.readyState") == "complete")


def _log_in(browser, live_server, username):
    _open(browser, live_server, "/portal/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "balance")))


def _fill_sale(browser, phone, amount):
    browser.find_element(By.NAME, "phone_number").send_keys(phone)
    browser.find_element(By.NAME, "amount").send_keys(str(amount))


def _recharge_count(seller) -> int:
    return Recharge.objects.filter(seller=seller).count()


def test_log_in_and_sell_through_the_form(browser, live_server, seller):
    _open(browser, live_server, "/")
    screenshot(browser, "00-landing")
    _open(browser, live_server, "/portal/login/")
    screenshot(browser, "01-login")
    _log_in(browser, live_server, seller.user.username)
    assert browser.find_element(By.ID, "balance").text == "1,000,000"
    browser.find_element(By.LINK_TEXT, "Recharges").click()
    _fill_sale(browser, "0912 123 4567", 25_000)
    screenshot(browser, "03-recharge-form")
    browser.find_element(By.ID, "sell").click()
    message = _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messages li.success")))
    assert "sold to 0912 123 4567" in message.text
    screenshot(browser, "04-recharges")
    browser.refresh()  # PRG: the refresh repeats the GET of the list, not the sale
    seller.refresh_from_db()
    assert (seller.balance, _recharge_count(seller)) == (START_BALANCE - 25_000, 1)
    browser.find_element(By.CSS_SELECTOR, "#recharges tbody a").click()
    assert "25,000" in browser.find_element(By.ID, "recharge").text
    assert browser.find_element(By.ID, "status").text == "pending"  # delivered later by the worker
    screenshot(browser, "05-recharge-detail")
    _open(browser, live_server, "/portal/")
    assert browser.find_element(By.ID, "balance").text == "975,000"
    assert browser.find_element(By.ID, "today-count").text == "1"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sales-chart rect.bar")) == 1  # one day with sales
    screenshot(browser, "02-dashboard")


def test_double_submit_sells_once(browser, live_server, seller):
    _log_in(browser, live_server, seller.user.username)
    _open(browser, live_server, "/portal/recharges/")
    _fill_sale(browser, "09351234567", 40_000)
    ActionChains(browser).double_click(browser.find_element(By.ID, "sell")).perform()
    _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messages li")))
    # The same form posted twice over the network, both requests certainly
    # reaching the server (a double click may be merged by the browser).
    _open(browser, live_server, "/portal/recharges/")
    _fill_sale(browser, "09121234567", 15_000)
    statuses = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const form = document.getElementById('sale-form');
        const post = () => fetch(form.action || location.href, {method: 'POST', body: new FormData(form), redirect: 'manual'});
        Promise.all([post(), post()]).then(responses => done(responses.map(r => r.type)));
        """
    )
    assert statuses == ["opaqueredirect", "opaqueredirect"]
    seller.refresh_from_db()
    assert seller.balance == START_BALANCE - 40_000 - 15_000
    assert _recharge_count(seller) == 2
    assert LedgerEntry.objects.filter(seller=seller, kind="recharge").count() == 2
    _open(browser, live_server, "/portal/recharges/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recharges tbody tr")) == 2


def test_statement_csv_equals_the_api(browser, live_server, seller, browser_downloads):
    for amount in (1_000, 2_000, 3_000):
        assert sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=amount).status_code == 201
    _log_in(browser, live_server, seller.user.username)
    browser.find_element(By.LINK_TEXT, "Statement").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#statement tbody tr")) == 4
    screenshot(browser, "06-statement")
    browser.find_element(By.ID, "download-csv").click()
    with wait_for_file(browser_downloads, f"statement-{seller.pk}*.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    api = requests.get(
        live_server.url + "/api/v1/transactions/",
        headers={"Authorization": f"Token {issue_api_token(user=seller.user)}"},
        timeout=10,
    ).json()["results"]
    assert [
        {
            "id": None,
            **{k: row[k] for k in ("created_at", "kind")},
            "amount": int(row["amount"]),
            "balance_after": int(row["balance_after"]),
            "reference": {"type": row["reference_type"], "id": int(row["reference_id"])},
        }
        for row in rows
    ] == [{**entry, "id": None} for entry in reversed(api)]
    assert [int(row["amount"]) for row in rows] == [1_000_000, -1_000, -2_000, -3_000]


def test_persian_is_right_to_left_with_jalali_dates(browser, live_server, seller):
    for phone, amount in (("+989121234567", 50_000), ("+989351234567", 20_000)):
        assert sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount).status_code == 201
    _log_in(browser, live_server, seller.user.username)
    assert browser.execute_script("return document.documentElement.dir") == "ltr"
    Select(browser.find_element(By.ID, "language")).select_by_value("fa")
    browser.find_element(By.ID, "switch-language").click()
    _wait(browser, lambda driver: driver.execute_script("return document.documentElement.lang") == "fa")
    assert browser.execute_script("return document.documentElement.dir") == "rtl"
    assert browser.find_element(By.ID, "balance").text == "930,000"
    screenshot(browser, "10-dashboard-fa")
    _open(browser, live_server, "/portal/credit-requests/")
    created = browser.find_element(By.CSS_SELECTOR, "#credit-requests tbody td.date").text
    assert re.fullmatch(r"14\d\d/\d\d/\d\d \d\d:\d\d", created), created  # the Jalali calendar's 14th century
    # The layout really is mirrored: the first column sits at the right edge.
    header = browser.find_element(By.CSS_SELECTOR, "#credit-requests thead th")
    table = browser.find_element(By.ID, "credit-requests")
    assert header.location["x"] + header.size["width"] == pytest.approx(
        table.location["x"] + table.size["width"], abs=2
    )
    screenshot(browser, "11-credit-requests-fa")
    browser.find_element(By.NAME, "amount").send_keys("۵۰۰۰۰۰")  # typed with Persian digits
    browser.find_element(By.ID, "ask").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messages li.success")))
    assert CreditRequest.objects.filter(seller=seller, status="pending", amount=500_000).count() == 1
    _open(browser, live_server, "/portal/statement/")
    screenshot(browser, "12-statement-fa")
    _open(browser, live_server, "/portal/recharges/")
    screenshot(browser, "13-recharges-fa")


def test_api_token_rotation_and_callback_url(browser, live_server, seller):
    _log_in(browser, live_server, seller.user.username)
    browser.find_element(By.LINK_TEXT, "API token").click()
    browser.find_element(By.ID, "rotate").click()
    browser.switch_to.alert.accept()
    key = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "new-token"))).text
    screenshot(browser, "07-api-token")
    me = requests.get(live_server.url + "/api/v1/me/", headers={"Authorization": f"Token {key}"}, timeout=10)
    assert (me.json()["id"], me.json()["name"], me.json()["balance"]) == (seller.pk, "Golestan Mobile", START_BALANCE)
    browser.find_element(By.LINK_TEXT, "Callback URL").click()
    browser.find_element(By.NAME, "url").send_keys("https://shop.example/hooks")
    browser.find_element(By.ID, "set-callback").click()
    secret = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "new-secret"))).text
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    screenshot(browser, "09-callback")


def test_staff_approve_a_top_up_in_the_admin(browser, live_server, seller):
    staff = with_password(get_user_model().objects.create_user(username="clerk", is_staff=True, is_superuser=True))
    _log_in(browser, live_server, seller.user.username)
    _open(browser, live_server, "/portal/credit-requests/")
    browser.find_element(By.NAME, "amount").send_keys("250000")
    browser.find_element(By.ID, "ask").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messages li.success")))
    screenshot(browser, "08-credit-requests")
    pending = CreditRequest.objects.get(seller=seller, status="pending")
    browser.delete_all_cookies()

    _open(browser, live_server, "/portal/login/")  # staff are refused by the portal
    browser.find_element(By.NAME, "username").send_keys(staff.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".errorlist")))
    assert "not a seller account" in browser.find_element(By.CSS_SELECTOR, ".errorlist").text

    _open(browser, live_server, "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(staff.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # Logged in once the admin shows its user tools: navigating sooner would abort the login's POST.
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    _open(browser, live_server, "/admin/credits/creditrequest/?status__exact=pending")
    browser.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{pending.pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("approve_selected")
    browser.find_element(By.NAME, "index").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist li")))
    assert "1 approved" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    screenshot(browser, "20-admin-credit-requests")
    browser.add_cookie({"name": "django_language", "value": "fa"})  # what the language switch sets
    _open(browser, live_server, "/admin/credits/creditrequest/")
    assert browser.execute_script("return document.documentElement.dir") == "rtl"
    screenshot(browser, "21-admin-credit-requests-fa")
    browser.delete_cookie("django_language")
    _open(browser, live_server, "/portal/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not a seller account"  # staff session: 403 page
    browser.delete_all_cookies()

    seller.refresh_from_db()
    assert seller.balance == START_BALANCE + 250_000
    assert Seller.objects.get(pk=seller.pk).credit_requests.get(pk=pending.pk).status == "approved"
    _log_in(browser, live_server, seller.user.username)
    assert browser.find_element(By.ID, "balance").text == "1,250,000"
    _open(browser, live_server, "/portal/credit-requests/?status=approved")
    assert "Approved" in browser.find_element(By.CSS_SELECTOR, "#credit-requests tbody").text
