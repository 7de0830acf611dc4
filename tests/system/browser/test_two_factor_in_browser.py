"""A staff sign-in asks for the code in a real browser: the password, then
the code an authenticator app would show (computed from the device's key
with django_otp.oath.totp), then the admin; and a staff member without an
authenticator, where it is required, enrols from the page's own otpauth://
URI before the admin opens. Screenshots land in tests/artifacts/screenshots/."""

import base64
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers.otp import code_for, give_authenticator
from tests.portal.helpers import PASSWORD, with_password
from tests.system.browser.chromium import screenshot


@pytest.fixture
def boss(db):
    return with_password(get_user_model().objects.create_superuser("boss", "boss@example.com", "unused"))


def _wait(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout).until(condition)


def _password_step(browser, live_server, user):
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "id_code")))


def test_a_staff_sign_in_asks_for_the_code(browser, live_server, boss):
    device = give_authenticator(boss)
    _password_step(browser, live_server, boss)
    assert browser.find_elements(By.ID, "user-tools") == []  # not in the admin yet
    screenshot(browser, "admin-two-factor-code")
    browser.find_element(By.ID, "id_code").send_keys("000000" if code_for(device) != "000000" else "111111")
    browser.find_element(By.ID, "verify").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "code-error")))
    assert browser.find_elements(By.ID, "user-tools") == []
    device.throttle_reset()  # as if the wait after a wrong code had passed
    browser.find_element(By.ID, "id_code").send_keys(code_for(device))
    browser.find_element(By.ID, "verify").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    assert browser.current_url == live_server.url + "/admin/"


def test_without_an_authenticator_staff_enrol_first_when_required(browser, live_server, boss, settings):
    settings.STAFF_TWO_FACTOR = "required"
    _password_step(browser, live_server, boss)
    assert "/admin/two-factor/enrol/" in browser.current_url
    assert browser.find_element(By.ID, "otp-qr").get_attribute("src").startswith("data:image/svg+xml;base64,")
    screenshot(browser, "admin-two-factor-enrol")
    browser.get(live_server.url + "/admin/sellers/seller/")  # the admin stays closed until enrolled
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "otp-qr")))
    uri = browser.find_element(By.ID, "otp-uri").get_attribute("textContent")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    browser.find_element(By.ID, "id_code").send_keys(f"{totp(key):06d}")
    browser.find_element(By.ID, "confirm").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "recovery-codes")))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10
    screenshot(browser, "admin-two-factor-recovery-codes")
    browser.find_element(By.ID, "continue").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    assert browser.current_url == live_server.url + "/admin/sellers/seller/"


def test_a_seller_turns_it_on_and_the_portal_then_asks_for_the_code(browser, live_server, make_seller):
    seller = make_seller(name="Golestan Mobile", balance=1_000_000)
    with_password(seller.user)
    browser.get(live_server.url + "/portal/login/")
    browser.find_element(By.NAME, "username").send_keys(seller.user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "balance")))
    browser.get(live_server.url + "/portal/two-factor/")
    uri = browser.find_element(By.ID, "otp-uri").get_attribute("textContent")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    browser.find_element(By.ID, "id_code").send_keys(f"{totp(key):06d}")
    browser.find_element(By.ID, "confirm").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "recovery-codes")))
    screenshot(browser, "portal-two-factor-recovery-codes")
    browser.find_element(By.ID, "logout").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "login")))
    browser.find_element(By.NAME, "username").send_keys(seller.user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "id_code")))
    assert "/portal/login/code/" in browser.current_url
    # The code of the next 30 s step (the one that turned it on is used), from the key the device stores.
    browser.find_element(By.ID, "id_code").send_keys(code_for(TOTPDevice.objects.get(user=seller.user), ahead=1))
    browser.find_element(By.ID, "verify").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "balance")))
