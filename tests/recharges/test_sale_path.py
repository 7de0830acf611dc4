"""The sale path's cost in SQL statements, pinned so that a change cannot add
a round trip silently; and the fast path's own token check (in SQL,
ledger migration 0004) refusing exactly what TokenAuthentication refuses."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from recharges.models import CommissionRate
from sellers.models import Seller
from sellers.services import issue_api_token, revoke_api_tokens
from tests.helpers.api import API, START_BALANCE, assert_error, balance, nothing_written, post, recharge_body

# In autocommit, as a view runs: inside a transaction the sale takes a
# savepoint too (recharges.services._sell), which would be counted, and a
# refusal raised by the sale statement aborts a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


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


def test_a_refused_sale_writes_nothing_in_three_statements(client_a, django_assert_num_queries):
    # The sale by token raises its refusal, undoing what it wrote before the
    # debit; the general path then finds the seller and sells again, refused.
    with nothing_written(), django_assert_num_queries(3):
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


# v1.2: the seller's limits and commission rate are judged and fixed inside the
# same statement (the debit's conditional UPDATE, under the row lock it takes).
RATE = 250  # 2.5 % on mci


@pytest.fixture
def limited_a(seller_a, client_a):
    """Shop A with all three limits (never reached by one 5,000 sale) and a rate on mci."""
    Seller.objects.filter(pk=seller_a.pk).update(
        max_recharge_amount=1_000_000, daily_amount=50_000, number_hourly_count=3
    )
    CommissionRate.objects.create(seller=seller_a, operator_id="mci", rate=RATE)
    return client_a


def test_a_sale_with_every_limit_and_a_commission_rate_is_one_statement(limited_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = post(limited_a, f"{API}/recharges/", recharge_body(), key="q-4")
    assert response.status_code == 201, response.content
    assert (response.json()["commission_rate"], response.json()["commission"]) == (RATE, 0)  # earned on success
    assert balance(limited_a) == START_BALANCE - 5000


def test_a_batch_with_every_limit_and_a_commission_rate_is_two_statements(limited_a, django_assert_num_queries):
    items = [recharge_body(amount=1000 + i, phone_number=f"+98912123456{i}") for i in range(3)]
    with django_assert_num_queries(2):  # authentication, then the batch
        response = post(limited_a, f"{API}/recharge-batches/", {"items": items}, key="q-5")
    assert (response.status_code, response.json()["count"]) == (201, 3), response.content
    assert [r["commission_rate"] for r in response.json()["recharges"]] == [RATE] * 3


def test_a_sale_over_the_daily_amount_is_three_statements(limited_a, django_assert_num_queries):
    """The refusals the debit gives are raised, as the number limit's below:
    the token's sale, then the general path's authentication and sale."""
    assert post(limited_a, f"{API}/recharges/", recharge_body(amount=45_000)).status_code == 201
    with nothing_written(), django_assert_num_queries(3):
        response = post(limited_a, f"{API}/recharges/", recharge_body(amount=5_001))
    assert_error(response, 403, "limit_exceeded", {"limit": "daily_amount", "allowed": 50_000, "used": 45_000})


def test_a_sale_over_the_daily_amount_with_a_key_is_four_statements(limited_a, django_assert_num_queries):
    """As a 402: the refusal is stored under the key in a fourth statement, and
    a repeat replays it in one."""
    assert post(limited_a, f"{API}/recharges/", recharge_body(amount=45_000)).status_code == 201
    with django_assert_num_queries(4):
        response = post(limited_a, f"{API}/recharges/", recharge_body(amount=5_001), key="q-6")
    error = assert_error(response, 403, "limit_exceeded")
    with django_assert_num_queries(1):
        replay = post(limited_a, f"{API}/recharges/", recharge_body(amount=5_001), key="q-6")
    assert (replay.status_code, replay.json()["error"], replay["Idempotent-Replayed"]) == (403, error, "true")
    assert balance(limited_a) == START_BALANCE - 45_000


def test_a_refused_sale_with_a_key_is_four_statements(client_a, django_assert_num_queries):
    """The 402 that the 403 above follows."""
    with django_assert_num_queries(4):
        response = post(client_a, f"{API}/recharges/", recharge_body(amount=START_BALANCE + 1), key="q-7")
    assert_error(response, 402, "insufficient_balance")
    assert balance(client_a) == START_BALANCE


def test_a_sale_over_the_number_hourly_count_with_a_key_is_four_statements(limited_a, django_assert_num_queries):
    """The token's sale raises (its seller unknown to Python, the fast path
    leaves the refusal to the general one), which authenticates, sells again
    (raising again, now for a known seller) and stores the 403 under the key:
    a refusal's cost only, pinned so that it cannot grow silently."""
    for _ in range(3):
        assert post(limited_a, f"{API}/recharges/", recharge_body()).status_code == 201
    with django_assert_num_queries(4):
        response = post(limited_a, f"{API}/recharges/", recharge_body(), key="q-8")
    error = assert_error(response, 403, "limit_exceeded", {"limit": "number_hourly_count", "allowed": 3, "used": 3})
    replay = post(limited_a, f"{API}/recharges/", recharge_body(), key="q-8")
    assert (replay.status_code, replay.json()["error"]) == (403, error)
    assert balance(limited_a) == START_BALANCE - 3 * 5000
