"""Staff Idempotency-Keys are kept apart from the seller's own, per staff
user (issue 10, item 8)."""

import pytest
from django.db import IntegrityError, transaction

from idempotency.models import IdempotencyRecord
from tests.helpers.api import API, post, recharge_body
from tests.helpers.sellers import client_for

ADJUSTMENT = {"amount": 1000, "reason": "goodwill"}


@pytest.fixture
def adjust_url(seller_a):
    return f"{API}/sellers/{seller_a.pk}/adjustments/"


def test_a_sellers_key_does_not_block_a_staff_adjustment_with_the_same_key(client_a, staff_client, adjust_url):
    assert post(client_a, f"{API}/credit-requests/", {"amount": 5000}, key="k-1").status_code == 201
    response = post(staff_client, adjust_url, ADJUSTMENT, key="k-1")
    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response


@pytest.mark.parametrize(
    "path, body",
    [
        ("/recharges/", recharge_body()),  # the fast SQL path
        ("/recharge-batches/", {"items": [recharge_body()]}),
        ("/credit-requests/", {"amount": 5000}),
    ],
)
def test_a_seller_cannot_probe_the_keys_staff_used(client_a, staff_client, adjust_url, path, body):
    assert post(staff_client, adjust_url, ADJUSTMENT, key="staff-k").status_code == 201
    # New to the seller: never a 422 or a replay that would reveal staff's key.
    response = post(client_a, API + path, body, key="staff-k")
    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response


def test_each_staff_user_has_their_own_keys(staff_client, staff_user, adjust_url, seller_a):
    first = post(staff_client, adjust_url, ADJUSTMENT, key="shared")
    other_staff = type(staff_user).objects.create_user(username="other-staff", is_superuser=True, is_staff=True)
    other = post(client_for(other_staff), adjust_url, ADJUSTMENT, key="shared")
    again = post(staff_client, adjust_url, ADJUSTMENT, key="shared")
    assert (first.status_code, other.status_code, again.status_code) == (201, 201, 201)
    assert other.json()["id"] != first.json()["id"]
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    seller_a.refresh_from_db()
    assert seller_a.balance == 1_000_000 + 2 * 1000


def _record(**fields) -> None:
    defaults = {"key": "k", "endpoint": "adjustments", "request_hash": "h", "status_code": 201, "response": {}}
    with transaction.atomic():
        IdempotencyRecord.objects.create(**{**defaults, **fields})


def test_the_database_keeps_each_key_once_per_scope(seller_a, staff_user):
    _record(seller_id=seller_a.pk)
    _record(seller_id=seller_a.pk, staff_user=staff_user)
    _record(seller_id=None, staff_user=staff_user)
    for duplicate in [
        {"seller_id": seller_a.pk},
        {"seller_id": seller_a.pk, "staff_user": staff_user},
        {"seller_id": None, "staff_user": staff_user},
    ]:
        with pytest.raises(IntegrityError):
            _record(**duplicate)
    with pytest.raises(IntegrityError, match="idempotency_record_has_a_scope"):
        _record(seller_id=None, key="unscoped")
