"""Sellers' opt-in two-factor sign-in in the portal: off by default (the
password alone), turned on from the portal's page with a first code, then
asked for at every login; a wrong code keeps every page closed; turning it
off needs a code. The API token asks for no code."""

import re

from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.helpers.otp import code_for
from tests.portal.helpers import PASSWORD


def _post(client, path, data):
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def _login(user) -> tuple[Client, object]:
    client = Client(enforce_csrf_checks=True)
    client.get("/portal/login/")
    return client, _post(client, "/portal/login/", {"username": user.username, "password": PASSWORD})


def _enrol(portal_client, seller) -> tuple[TOTPDevice, list[str], str]:
    client = portal_client(seller.user)
    page = client.get("/portal/two-factor/").content.decode()
    assert 'id="two-factor-off"' in page
    assert re.search(r'id="otp-uri"[^>]*>otpauth://totp/', page)
    device = TOTPDevice.objects.get(user=seller.user, confirmed=False)
    used = code_for(device)
    response = _post(client, "/portal/two-factor/", {"code": used})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(codes) == 10
    assert client.get("/portal/").status_code == 200  # the enrolling session stays in
    return device, codes, used


def test_off_by_default_the_password_is_enough(seller_a):
    client, response = _login(seller_a.user)
    assert response.url == "/portal/"
    assert client.get("/portal/").status_code == 200


def test_turned_on_the_login_asks_for_the_code(portal_client, seller_a):
    device, _codes, _used = _enrol(portal_client, seller_a)
    client, response = _login(seller_a.user)
    assert response.url == "/portal/login/code/?next=%2Fportal%2F"
    for path in ("/portal/", "/portal/statement/", "/portal/api-token/", "/portal/two-factor/"):
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith("/portal/login/code/"), path
    response = _post(client, "/portal/login/code/", {"code": code_for(device, ahead=1), "next": "/portal/"})
    assert response.status_code == 302 and response.url == "/portal/"
    assert client.get("/portal/").status_code == 200


def test_a_wrong_or_replayed_code_keeps_the_portal_closed(portal_client, seller_a):
    device, codes, used = _enrol(portal_client, seller_a)  # used: the code that confirmed the enrolment
    client, _ = _login(seller_a.user)
    response = _post(client, "/portal/login/code/", {"code": used})
    assert response.status_code == 400 and b"already used" in response.content
    assert client.get("/portal/").status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    # A recovery code is another device: it is not throttled by the authenticator's failures, and works once.
    assert _post(client, "/portal/login/code/", {"code": codes[0]}).status_code == 302
    assert client.get("/portal/").status_code == 200
    other, _ = _login(seller_a.user)
    assert _post(other, "/portal/login/code/", {"code": codes[0]}).status_code == 400


def test_turning_it_off_needs_a_code(portal_client, seller_a):
    device, codes, _used = _enrol(portal_client, seller_a)
    client, _ = _login(seller_a.user)
    _post(client, "/portal/login/code/", {"code": code_for(device, ahead=1)})
    response = _post(client, "/portal/two-factor/", {"code": "12345678"})
    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=seller_a.user).exists()
    recovery = StaticDevice.objects.get(user=seller_a.user)
    assert recovery.throttling_failure_count == 1  # an 8-character guess is a recovery code's
    recovery.throttle_reset()  # as if the wait had passed
    response = _post(client, "/portal/two-factor/", {"code": codes[1]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=seller_a.user).exists()
    assert not StaticDevice.objects.filter(user=seller_a.user).exists()
    _client, response = _login(seller_a.user)
    assert response.url == "/portal/"


def test_the_code_page_is_for_a_seller_past_the_password_only(seller_a):
    assert Client().get("/portal/login/code/").url == "/portal/login/"
    client, _ = _login(seller_a.user)  # no authenticator: nothing to type
    assert client.get("/portal/login/code/").url == "/portal/"


def test_the_api_token_asks_for_no_code(portal_client, seller_a, seller_client):
    _enrol(portal_client, seller_a)
    assert seller_client(seller_a).get("/api/v1/me/").status_code == 200
