import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from sellers.services import issue_api_token, revoke_api_tokens, rotate_api_token


def me(key: str, address: str = "10.0.0.1"):
    client = APIClient(REMOTE_ADDR=address)
    return client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}")


@pytest.fixture(autouse=True)
def fresh_throttle_counters(db):
    cache.clear()


@pytest.fixture(autouse=True)
def one_failure_window(settings):
    """Failures are counted in fixed windows, so a test's few requests that
    straddled a window's end (a 60 s window ends every minute) started a new
    count and were not throttled (seen once in a local run). Windows of 10^9 s end next
    in 2033."""
    settings.AUTH_FAILURE_WINDOW_SECONDS = 10**9


def test_tokens_are_stored_hashed(make_seller):
    seller = make_seller()
    key = issue_api_token(user=seller.user)
    assert me(key).status_code == 200
    stored = AuthToken.objects.filter(user=seller.user).values_list("digest", "token_key")
    assert all(key not in value for row in stored for value in row)


def test_expired_token_is_refused(make_seller):
    seller = make_seller()
    key = issue_api_token(user=seller.user)
    AuthToken.objects.filter(user=seller.user).update(expiry=timezone.now() - timedelta(seconds=1))
    response = me(key)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_staff_can_revoke_and_rotate(make_seller):
    seller = make_seller()
    old = issue_api_token(user=seller.user)
    new = rotate_api_token(user=seller.user)
    assert me(old).status_code == 401
    assert me(new).status_code == 200
    assert revoke_api_tokens(user=seller.user) == 1
    assert me(new).status_code == 401


def test_drf_create_token_keeps_its_output(make_seller, capsys):
    seller = make_seller()
    call_command("drf_create_token", seller.user.username)
    output = capsys.readouterr().out
    match = re.fullmatch(rf"Generated token ([0-9a-f]{{64}}) for user {seller.user.username}\n", output)
    assert match
    assert me(match.group(1)).status_code == 200


def test_failed_authentication_is_throttled_per_address(make_seller, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    seller = make_seller()
    good = issue_api_token(user=seller.user)
    statuses = [me("f" * 64).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    response = me("f" * 64)
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # The header and the message name the same wait.
    assert f"available in {response['Retry-After']} second" in response.json()["error"]["message"]
    assert me("f" * 64, address="10.0.0.2").status_code == 401
    assert me(good).status_code == 200  # a valid token is never throttled for others' failures


def test_per_seller_rate_limit_is_off_by_default(make_seller):
    seller = make_seller()
    key = issue_api_token(user=seller.user)
    assert {me(key).status_code for _ in range(50)} == {200}


def test_per_seller_rate_limit_when_configured(make_seller, monkeypatch):
    from config.throttling import SellerRateThrottle

    monkeypatch.setattr(SellerRateThrottle, "THROTTLE_RATES", {"seller": "3/minute"})
    first, second = make_seller(), make_seller()
    first_key, second_key = issue_api_token(user=first.user), issue_api_token(user=second.user)
    assert [me(first_key).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert me(first_key)["Retry-After"]
    assert me(second_key).status_code == 200


def test_behind_trusted_proxies_failures_count_per_forwarded_client(make_seller, settings, monkeypatch):
    from rest_framework.settings import api_settings

    settings.AUTH_FAILURE_LIMIT = 2
    monkeypatch.setattr(api_settings, "NUM_PROXIES", 1)

    def via_proxy(client_address: str, forged: str = "") -> int:
        chain = f"{forged}, {client_address}" if forged else client_address
        return (
            APIClient(REMOTE_ADDR="10.0.0.99")
            .get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {'f' * 64}", HTTP_X_FORWARDED_FOR=chain)
            .status_code
        )

    # The proxy appends the real client; what the client wrote before it does not count.
    assert [via_proxy("203.0.113.1", forged=f"198.51.100.{i}") for i in range(3)] == [401, 401, 429]
    assert via_proxy("203.0.113.2") == 401


def test_without_trusted_proxies_a_forwarded_header_is_ignored(make_seller, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    statuses = [
        APIClient(REMOTE_ADDR="10.0.0.98")
        .get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {'f' * 64}", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
        .status_code
        for i in range(3)
    ]
    assert statuses == [401, 401, 429]
