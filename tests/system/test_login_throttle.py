"""Failed admin logins are throttled per client address and per username
(issue 10, item 7; django-axes). Before, 40 wrong passwords got 40 x 200,
each costing a password hash. The API's token authentication is untouched."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.helpers.sellers import client_for

pytestmark = pytest.mark.django_db

LIMIT = 3
PASSWORD = "the-right-password-for-tests"


@pytest.fixture(autouse=True)
def limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, for tests only


@pytest.fixture
def boss():
    return get_user_model().objects.create_superuser(username="boss", password=PASSWORD)


def log_in(username: str, password: str, address: str = "10.9.0.1"):
    return Client(REMOTE_ADDR=address).post(
        "/admin/login/", {"username": username, "password": password, "next": "/admin/"}
    )


def test_wrong_passwords_from_one_address_are_locked_out(boss):
    assert [log_in("boss", "wrong").status_code for _ in range(LIMIT - 1)] == [200] * (LIMIT - 1)
    assert log_in("boss", "wrong").status_code == 429
    # Locked out: the right password is refused too, without hashing it.
    assert log_in("boss", PASSWORD).status_code == 429
    # Another address may still log in as someone else.
    get_user_model().objects.create_superuser(username="clerk", password=PASSWORD)
    assert log_in("clerk", PASSWORD, address="10.9.0.2").status_code == 302


def test_one_username_from_many_addresses_is_locked_out(boss):
    for number in range(LIMIT):
        log_in("boss", "wrong", address=f"10.8.0.{number}")
    assert log_in("boss", PASSWORD, address="10.8.1.1").status_code == 429


def test_many_usernames_from_one_address_are_locked_out(boss):
    for number in range(LIMIT):
        log_in(f"guess{number}", "wrong", address="10.7.0.1")
    assert log_in("boss", PASSWORD, address="10.7.0.1").status_code == 429


def test_a_good_login_before_the_limit_resets_the_count(boss):
    for _ in range(LIMIT - 1):
        log_in("boss", "wrong")
    assert log_in("boss", PASSWORD).status_code == 302
    assert log_in("boss", "wrong").status_code == 200


def test_the_api_is_not_affected(boss, make_seller):
    for _ in range(LIMIT):
        log_in("boss", "wrong", address="127.0.0.1")
    seller = make_seller()
    assert client_for(seller.user).get("/api/v1/me/").status_code == 200
    assert client_for(boss).get("/api/v1/sellers/").status_code == 200
