"""The sale path's cost in SQL statements, pinned so that a change cannot add
a round trip silently; and the fast path's own token check (in SQL,
ledger migration 0004) refusing exactly what TokenAuthentication refuses."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from sellers.services import issue_api_token, revoke_api_tokens
from tests.helpers.api import API, START_BALANCE, assert_error, balance, nothing_written, post, recharge_body


def test_a_sale_is_one_statement(client_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = post(client_a, f"{API}/recharges/", recharge_body(), key="q-1")
    assert response.status_code == 201
    assert balance(client_a) == START_BALANCE - 5000


def test_a_replayed_sale_is_one_statement(client_a, django_assert_num_queries):
    first = post(client_a, f"{API}/recharges/", recharge_body(), key="q-2")
    with django_assert_num_queries(1):
        replay = post(client_a, f"{API}/recharges/", recharge_body(), key="q-2")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert balance(client_a) == START_BALANCE - 5000


def test_a_refused_sale_is_one_statement(client_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = post(client_a, f"{API}/recharges/", recharge_body(amount=START_BALANCE + 1))
    assert_error(response, 402, "insufficient_balance")
    assert balance(client_a) == START_BALANCE


def test_a_batch_is_two_statements(client_a, django_assert_num_queries):
    items = [recharge_body(amount=1000 + i) for i in range(100)]
    with django_assert_num_queries(2):  # authentication, then the batch
        response = post(client_a, f"{API}/recharge-batches/", {"items": items}, key="q-3")
    assert (response.status_code, response.json()["count"]) == (201, 100)
    assert balance(client_a) == START_BALANCE - sum(item["amount"] for item in items)


def token_client(user) -> tuple[APIClient, str]:
    key = issue_api_token(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, key


def expired(user):
    client, _ = token_client(user)
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    return client


def revoked(user):
    client, _ = token_client(user)
    revoke_api_tokens(user=user)
    return client


def deactivated(user):
    client, _ = token_client(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    return client


@pytest.mark.parametrize("make_client", [expired, revoked, deactivated])
def test_a_sale_with_a_token_that_no_longer_works_is_401(seller_a, make_client):
    client = make_client(seller_a.user)
    with nothing_written():
        response = post(client, f"{API}/recharges/", recharge_body(), key="refused")
    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("is_staff", [True, False], ids=["staff", "user-without-seller"])
def test_a_sale_by_a_user_who_is_not_a_seller_is_403(db, is_staff):
    user = get_user_model().objects.create_user(username=f"not-a-seller-{is_staff}", is_staff=is_staff)
    client, _ = token_client(user)
    with nothing_written():
        response = post(client, f"{API}/recharges/", recharge_body(), key="refused")
    assert_error(response, 403, "permission_denied")


def test_a_token_still_valid_sells(seller_a):
    client, _ = token_client(seller_a.user)
    AuthToken.objects.filter(user=seller_a.user).update(expiry=timezone.now() + timedelta(minutes=1))
    assert post(client, f"{API}/recharges/", recharge_body()).status_code == 201
    assert balance(client) == START_BALANCE - 5000


def test_a_staff_user_who_also_has_a_seller_cannot_sell(seller_a):
    type(seller_a.user).objects.filter(pk=seller_a.user_id).update(is_staff=True)
    client, _ = token_client(seller_a.user)
    with nothing_written():
        response = post(client, f"{API}/recharges/", recharge_body(), key="refused")
    assert_error(response, 403, "permission_denied")
