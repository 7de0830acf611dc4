"""Two-factor sign-in to the admin (config/admin_site.py, config/two_factor.py)
through the test client: the password, then a code; wrong, replayed and
reused codes refused; a staff user without an authenticator enrols first
when it is required, as it always is in production; API tokens ask for no code."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.config.test_deploy_settings import manage_in_production
from tests.helpers.otp import code_for, give_authenticator
from tests.portal.helpers import PASSWORD, with_password


@pytest.fixture
def boss(db):
    return with_password(get_user_model().objects.create_superuser("boss", "boss@example.com", "unused"))


@pytest.fixture
def required(settings):
    settings.STAFF_TWO_FACTOR = "required"


def _password(user) -> tuple[Client, object]:
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD})
    return client, response


def _admitted(client) -> bool:
    response = client.get("/admin/")
    return response.status_code == 200 and b'id="user-tools"' in response.content


def test_the_admin_login_asks_for_a_code_after_the_password(boss):
    device = give_authenticator(boss)
    client, response = _password(boss)
    assert response.status_code == 302
    assert response.url == "/admin/two-factor/?next=%2Fadmin%2F"
    assert not _admitted(client)
    # Every admin page leads to the code page until the code is typed.
    assert client.get("/admin/sellers/seller/", follow=True).redirect_chain[-1][0].startswith("/admin/two-factor/")
    page = client.get(response.url)
    assert b'name="code"' in page.content
    response = client.post("/admin/two-factor/", {"code": code_for(device), "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"
    assert _admitted(client)


def test_a_wrong_code_is_refused_and_the_next_guess_throttled(boss):
    device = give_authenticator(boss)
    client, _ = _password(boss)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post("/admin/two-factor/", {"code": wrong})
    assert response.status_code == 200
    assert b"not valid" in response.content
    assert not _admitted(client)
    # Brute force: right after a wrong code even the right one waits (1, 2, 4, ... s per failure).
    response = client.post("/admin/two-factor/", {"code": code_for(device)})
    assert b"Too many wrong codes" in response.content
    assert not _admitted(client)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_a_code_used_once_is_refused_the_second_time(boss):
    device = give_authenticator(boss)
    code = code_for(device)
    first, _ = _password(boss)
    first.post("/admin/two-factor/", {"code": code})
    assert _admitted(first)
    second, _ = _password(boss)
    response = second.post("/admin/two-factor/", {"code": code})
    assert b"already used" in response.content
    assert not _admitted(second)


def test_a_staff_user_without_an_authenticator_enrols_first_when_it_is_required(boss, required):
    client, response = _password(boss)
    assert response.url.startswith("/admin/two-factor/enrol/")
    assert not _admitted(client)
    for path in ("/admin/sellers/seller/", "/admin/dashboard/", "/admin/two-factor/"):
        assert client.get(path, follow=True).redirect_chain[-1][0].startswith("/admin/two-factor/enrol/"), path
    page = client.get("/admin/two-factor/enrol/").content.decode()
    uri = re.search(r'id="otp-uri"[^>]*>([^<]+)<', page).group(1)
    assert uri.startswith("otpauth://totp/Recharge%20platform%3Aboss?secret=")
    assert 'src="data:image/svg+xml;base64,' in page  # the QR code, drawn by the server
    device = TOTPDevice.objects.get(user=boss, confirmed=False)
    response = client.post("/admin/two-factor/enrol/", {"code": "000000" if code_for(device) != "000000" else "1"})
    assert b"not valid" in response.content and not _admitted(client)
    device.throttle_reset()  # as if the wait had passed
    response = client.post("/admin/two-factor/enrol/", {"code": code_for(device), "next": "/admin/"})
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(codes) == 10
    assert _admitted(client)
    device.refresh_from_db()
    assert device.confirmed
    # Enrolled: the enrolment page cannot replace the authenticator without the code.
    other, _ = _password(boss)
    assert other.get("/admin/two-factor/enrol/").url.startswith("/admin/two-factor/")
    assert other.post("/admin/two-factor/enrol/", {"code": code_for(device, ahead=1)}).status_code == 302
    assert not _admitted(other)


def test_a_recovery_code_signs_in_once(boss):
    _device, codes = call_command_codes(boss)
    first, _ = _password(boss)
    response = first.post("/admin/two-factor/", {"code": codes[0].upper()})
    assert response.status_code == 302
    assert _admitted(first)
    second, _ = _password(boss)
    response = second.post("/admin/two-factor/", {"code": codes[0]})
    assert b"already used" in response.content
    assert not _admitted(second)
    assert StaticToken.objects.filter(device__user=boss).count() == 9


def call_command_codes(user):
    from io import StringIO

    out = StringIO()
    call_command("enrol_staff_otp", user.username, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("otpauth://totp/")
    return TOTPDevice.objects.get(user=user), lines[3:]


def test_the_operator_command_enrols_staff_only(boss, make_seller):
    call_command_codes(boss)
    _device, codes = call_command_codes(boss)  # again: a lost phone replaced, old codes gone
    assert TOTPDevice.objects.filter(user=boss).count() == 1
    assert len(codes) == 10 and StaticToken.objects.filter(device__user=boss).count() == 10
    with pytest.raises(CommandError, match="not staff"):
        call_command("enrol_staff_otp", make_seller().user.username)


def test_optional_lets_staff_without_an_authenticator_in_with_the_password(boss):
    client, response = _password(boss)
    assert response.url == "/admin/"
    assert _admitted(client)


def test_the_password_step_is_still_throttled_by_axes(boss, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    _, response = _password(boss)
    assert response.status_code == 429


def test_api_tokens_ask_for_no_code(required, staff_user, staff_client, seller_a, client_a):
    give_authenticator(staff_user)
    give_authenticator(seller_a.user)
    assert staff_client.get("/api/v1/sellers/").status_code == 200
    assert client_a.get("/api/v1/me/").status_code == 200


def test_production_requires_it_whatever_the_environment_says():
    result = manage_in_production(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STAFF_TWO_FACTOR)",
        SECRET_KEY="k" * 30 + "-0123456789-production",
        STAFF_TWO_FACTOR="optional",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "required"


def test_cancel_logs_out_of_the_second_step(boss):
    give_authenticator(boss)
    client, _ = _password(boss)
    assert client.get("/admin/two-factor/cancel/").status_code == 405
    response = client.post("/admin/two-factor/cancel/")
    assert response.url == "/admin/login/"
    assert client.get("/admin/two-factor/").url == "/admin/login/"  # no longer past the password
