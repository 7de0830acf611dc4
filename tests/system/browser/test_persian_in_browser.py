"""Issue 20's "done when", in a real browser, in Persian and in English: the
admin's index, the recharges list and a credit request name nothing in English
under fa (no model or field name of ours); the list and the request show their
moment in Tehran time, as a Jalali date under fa; the staff dashboard's
figures for today are the daily report's. (The portal's Jalali date filter:
test_jalali_in_browser.py.) Screenshots of each page, and of the portal's
recharges page, land in tests/artifacts/screenshots/ (docs/screenshots/ holds
copies)."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import jdatetime
import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone, translation
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from credits.models import CreditRequest
from credits.services import request_credit
from recharges.delivery import resolve_recharge
from recharges.models import Recharge
from recharges.services import sell_recharge
from reports.selectors import daily_report
from tests.portal.helpers import PASSWORD, with_password
from tests.system.browser.chromium import screenshot

TEHRAN = ZoneInfo("Asia/Tehran")
OUR_APPS = ("sellers", "credits", "ledger", "recharges", "callbacks", "reports")
LANGUAGES = ["fa", "en"]


@pytest.fixture
def staff(db):
    return with_password(get_user_model().objects.create_superuser("boss", "boss@example.com", "unused"))


@pytest.fixture
def day(make_seller, staff):
    """A seller's day: two sales (one failed and refunded), and a top-up request waiting."""
    seller = make_seller(name="فروشگاه موبایل گلستان", balance=5_000_000)
    with_password(seller.user)
    sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=50_000)
    sell_recharge(seller_id=seller.pk, phone_number="+989351234567", amount=200_000)
    sold, failed = Recharge.objects.filter(seller=seller).order_by("pk")
    resolve_recharge(recharge_id=sold.pk, successful=True, operator_reference="OP-1", resolved_by=staff)
    resolve_recharge(recharge_id=failed.pk, successful=False, operator_reference="", resolved_by=staff)
    return {"seller": seller, "recharge": sold, "request": request_credit(seller_id=seller.pk, amount=3_000_000)}


def _wait(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout).until(condition)


def _open(browser, live_server, path) -> str:
    """Opens the page and returns the text it shows."""
    browser.get(live_server.url + path)
    _wait(browser, lambda driver: driver.execute_script("return document.readyState") == "complete")
    return browser.find_element(By.TAG_NAME, "body").text


def _log_in(browser, live_server, staff, language):
    browser.set_window_size(1366, 768)
    _open(browser, live_server, "/admin/login/")
    browser.add_cookie({"name": "django_language", "value": language})  # what the language switch sets
    _open(browser, live_server, "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(staff.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))


def _english_names(*models) -> set[str]:
    """Our apps' and models' English names, and the fields' of `models`, as the admin writes them."""
    with translation.override("en"):
        names = {str(config.verbose_name) for config in apps.get_app_configs() if config.label in OUR_APPS}
        for model in admin.site._registry:
            if model._meta.app_label in OUR_APPS:
                names |= {str(model._meta.verbose_name), str(model._meta.verbose_name_plural)}
        for model in models:
            names |= {str(field.verbose_name) for field in model._meta.concrete_fields if field.name != "id"}
    return {name[0].upper() + name[1:] for name in names if name}


def _english_in(text: str, names: set[str]) -> list[str]:
    return sorted(name for name in names if re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE))


def _shown(moment: datetime, language: str) -> str:
    """A moment as a person reads it: Tehran time, a Jalali date under fa."""
    local = moment.astimezone(TEHRAN)
    if language == "fa":
        return jdatetime.datetime.fromgregorian(datetime=local).strftime("%Y/%m/%d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_admin_speaks_the_pages_language_in_tehran_time(browser, live_server, staff, day, language):
    _log_in(browser, live_server, staff, language)
    english = _english_names(Recharge, CreditRequest)

    index = _open(browser, live_server, "/admin/")
    screenshot(browser, f"admin-index-{language}")
    recharges = _open(browser, live_server, "/admin/recharges/recharge/")
    screenshot(browser, f"admin-recharges-{language}")
    request = _open(browser, live_server, f"/admin/credits/creditrequest/{day['request'].pk}/change/")
    screenshot(browser, f"credit-request-{language}")

    if language == "fa":
        assert browser.execute_script("return document.documentElement.dir") == "rtl"
        for page in (index, recharges, request):
            assert _english_in(page, english) == []
        assert "درخواست‌های افزایش اعتبار" in index and "شارژها" in recharges
    else:
        assert {"Recharges", "Credit requests"} <= set(_english_in(index, english))
    recharge = Recharge.objects.get(pk=day["recharge"].pk)
    assert _shown(recharge.created_at, language) in recharges
    assert _shown(day["request"].created_at, language) in request
    assert "3,000,000" in request


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_dashboards_figures_are_the_daily_reports(browser, live_server, staff, day, language):
    _log_in(browser, live_server, staff, language)
    _open(browser, live_server, "/admin/dashboard/")
    screenshot(browser, f"admin-dashboard-{language}")
    today = timezone.now().astimezone(TEHRAN).date()
    (report,) = daily_report(date_from=today, date_to=today)
    card = browser.find_element(By.ID, "sales-today")
    shown = {name: card.find_element(By.CLASS_NAME, name).text for name in ("gross", "refunds", "net")}
    gross, refunds = report["recharged_amount"], report["refunded_amount"]
    assert (gross, refunds) == (250_000, 200_000)
    unit = "ریال" if language == "fa" else "IRR"
    assert shown == {
        "gross": f"{gross:,} {unit}",
        "refunds": f"{refunds:,} {unit}",
        "net": f"{gross - refunds:,} {unit}",
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_portals_recharges_page(browser, live_server, day, language):
    browser.set_window_size(1366, 768)
    _open(browser, live_server, "/portal/login/")
    browser.add_cookie({"name": "django_language", "value": language})
    _open(browser, live_server, "/portal/login/")
    browser.find_element(By.NAME, "username").send_keys(day["seller"].user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "balance")))
    page = _open(browser, live_server, "/portal/recharges/")
    screenshot(browser, f"portal-recharges-{language}")
    assert "0912 123 4567" in page and "+98" not in page
    assert ("همراه اول" if language == "fa" else "MCI") in page
    assert _shown(Recharge.objects.get(pk=day["recharge"].pk).created_at, language) in page
