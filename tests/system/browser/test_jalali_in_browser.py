"""The portal's date filter under Persian in a real browser: the Jalali
picker (django-jalali-date's, served from this server) writes a Jalali day,
a day typed with Persian digits is read too, and the list shows exactly that
Tehran day's recharges."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers.tehran_days import DAY_AFTER, DAY_BEFORE, HALF_PAST_MIDNIGHT, recharges_around_midnight
from tests.portal.helpers import PASSWORD, with_password
from tests.system.browser.chromium import screenshot


@pytest.fixture
def seller(make_seller):
    seller = make_seller(name="Golestan Mobile")
    with_password(seller.user)
    return seller


def _wait(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout).until(condition)


def _open(browser, live_server, path):
    browser.get(live_server.url + path)
    _wait(browser, lambda driver: driver.execute_script("return document.readyState") == "complete")


def _log_in_persian(browser, live_server, username):
    _open(browser, live_server, "/portal/login/")
    browser.add_cookie({"name": "django_language", "value": "fa"})
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "balance")))


def _listed(browser) -> list[str]:
    return [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#recharges tbody td.date")]


def test_the_jalali_picker_and_a_typed_persian_day_filter_the_recharges(browser, live_server, seller):
    recharges_around_midnight(seller)
    _log_in_persian(browser, live_server, seller.user.username)
    _open(browser, live_server, "/portal/recharges/")
    assert len(_listed(browser)) == len([DAY_BEFORE, HALF_PAST_MIDNIGHT, DAY_AFTER])
    date_from = browser.find_element(By.NAME, "date_from")
    assert date_from.get_attribute("type") == "text"
    # The picker opens on the month of what the box holds, and writes the day clicked.
    date_from.send_keys("1405/09/01")
    browser.find_element(By.NAME, "date_to").click()
    date_from.click()
    picker = _wait(browser, expected_conditions.visibility_of_element_located((By.TAG_NAME, "jdp-container")))
    screenshot(browser, "20-jalali-picker-fa")
    (sixteenth,) = [
        day
        for day in picker.find_elements(By.CSS_SELECTOR, ".jdp-day")
        if day.text == "16" and "not-in-month" not in (day.get_attribute("class") or "")
    ]
    sixteenth.click()
    assert date_from.get_attribute("value") == "1405/09/16"
    browser.find_element(By.NAME, "date_to").send_keys("۱۴۰۵/۰۹/۱۶")  # typed with Persian digits
    browser.find_element(By.CSS_SELECTOR, "#recharge-filter button[type=submit]").click()
    _wait(browser, lambda driver: "date_from=" in driver.current_url)
    assert _listed(browser) == ["1405/09/16 00:30"]  # 2026-12-06 21:00 UTC
    screenshot(browser, "21-recharges-filtered-fa")
