# Temporary (not committed): screenshots of the dashboard and the portal's recharges at 1366x768.
import json
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By

from credits.services import request_credit
from recharges.delivery import resolve_recharge
from recharges.models import Operator
from recharges.services import sell_recharge
from reports.selectors import business_today, day_start
from tests.helpers.ledger_entries import entry_at
from tests.portal.helpers import PASSWORD, with_password

OUT = Path("/work/po/shots-dash")


def _shot(browser, name, full=False):
    frame = browser.execute_script("return window.outerHeight - window.innerHeight")
    height = browser.execute_script("return document.documentElement.scrollHeight") if full else 768
    browser.set_window_size(1366, height + frame)
    browser.save_screenshot(str(OUT / f"{name}.png"))


def test_shots(browser, live_server, make_seller, staff_user):
    Operator.objects.filter(code="mci").update(name_fa="همراه اول")
    Operator.objects.filter(code="irancell").update(name_fa="ایرانسل")
    Operator.objects.filter(code="rightel").update(name_fa="رایتل")
    big, small = make_seller(name="Golestan Mobile", balance=9_000_000), make_seller(name="Small shop", balance=3_000_000)
    with_password(big.user)
    today = business_today()
    for days in range(29, 0, -1):
        noon = day_start(today - timedelta(days)) + timedelta(hours=12)
        for seller, amount in ((big, 20_000 + days * 3_000), (small, 50_000 + (days % 7) * 10_000)):
            entry = entry_at(seller.pk, "recharge", -amount, noon)
            resolve_recharge(recharge_id=entry.recharge_id, successful=days % 6 != 0, operator_reference="op", resolved_by=staff_user)
        if days % 4 == 0:
            entry_at(small.pk, "credit", 500_000, noon)
    ids = [
        json.loads(sell_recharge(seller_id=big.pk, phone_number=phone, amount=amount).body)["id"]
        for phone, amount in [("+989121234567", 50_000), ("+989351234567", 70_000), ("+989121234568", 20_000), ("+989211234567", 30_000)]
    ]
    resolve_recharge(recharge_id=ids[0], successful=True, operator_reference="op-1", resolved_by=staff_user)
    resolve_recharge(recharge_id=ids[1], successful=False, resolved_by=staff_user)
    request_credit(seller_id=small.pk, amount=2_500_000)
    staff = with_password(get_user_model().objects.create_user(username="clerk", is_staff=True, is_superuser=True))
    browser.implicitly_wait(5)
    for language in ("en", "fa"):
        browser.delete_all_cookies()
        browser.get(live_server.url + "/admin/login/")
        browser.add_cookie({"name": "django_language", "value": language})
        browser.get(live_server.url + "/admin/login/")
        browser.find_element(By.NAME, "username").send_keys(staff.username)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        browser.find_element(By.ID, "user-tools")
        browser.get(live_server.url + "/admin/dashboard/")
        _shot(browser, f"dashboard-{language}")
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1366, "height": 768, "deviceScaleFactor": 2, "mobile": False})
        browser.find_element(By.CSS_SELECTOR, ".cards").screenshot(str(OUT / f"zoom-cards-{language}.png"))
        print("BIDI", language, browser.execute_script("""
            const dd = document.querySelector('#sales-today dd.net'); const b = dd.querySelector('bdi').getBoundingClientRect();
            const r = dd.getBoundingClientRect(); const t = dd.querySelector('bdi').firstChild; const range = document.createRange();
            range.setStart(t, 0); range.setEnd(t, 1); const minus = range.getBoundingClientRect();
            range.setStart(t, t.length - 1); range.setEnd(t, t.length); const last = range.getBoundingClientRect();
            return [t.data, r.left, r.right, b.left, b.right, minus.left, last.left, getComputedStyle(dd).direction];"""))
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        _shot(browser, f"dashboard-{language}-full", full=True)
        browser.delete_all_cookies()
        browser.get(live_server.url + "/portal/login/")
        browser.add_cookie({"name": "django_language", "value": language})
        browser.get(live_server.url + "/portal/login/")
        browser.find_element(By.NAME, "username").send_keys(big.user.username)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login").click()
        browser.find_element(By.ID, "balance")
        _shot(browser, f"portal-dashboard-{language}")
        browser.get(live_server.url + "/portal/recharges/")
        _shot(browser, f"portal-recharges-{language}")
        _shot(browser, f"portal-recharges-{language}-full", full=True)
        browser.get(live_server.url + f"/portal/recharges/{ids[1]}/")
        _shot(browser, f"portal-recharge-failed-{language}")
