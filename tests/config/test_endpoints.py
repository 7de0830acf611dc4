"""Each endpoint's success body, exactly as the contract gives it, and the
error codes each one can answer (402, 404, 405, 409)."""

import re

import pytest
from rest_framework.test import APIClient

from tests.helpers.api import (
    API,
    E164,
    ITEM_BODY,
    START_BALANCE,
    assert_error,
    balance,
    nothing_written,
    post,
    recharge_body,
)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def is_timestamp(value) -> bool:
    return isinstance(value, str) and TIMESTAMP.match(value) is not None


# /me/ and sellers

# v1.2: /me/ gains the seller's limits (none by default) and the day's amount.
ME_V12 = {
    "limits": {"max_recharge_amount": None, "daily_amount": None, "number_hourly_count": None},
    "daily_amount_used": 0,
}


def test_me(client_a, seller_a):
    assert client_a.get(f"{API}/me/").json() == {
        "id": seller_a.pk,
        "name": "Shop A",
        "balance": START_BALANCE,
        **ME_V12,
    }


def test_staff_create_a_seller_whose_token_works(staff_client):
    response = post(staff_client, f"{API}/sellers/", {"name": "Shop 1", "username": "shop-one"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "name", "balance", "api_token"}
    assert (body["name"], body["balance"]) == ("Shop 1", 0)
    assert isinstance(body["api_token"], str) and body["api_token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['api_token']}")
    assert client.get(f"{API}/me/").json() == {"id": body["id"], "name": "Shop 1", "balance": 0, **ME_V12}


def test_staff_list_and_read_sellers(staff_client, seller_a, seller_b):
    expected_a = {"id": seller_a.pk, "name": "Shop A", "balance": START_BALANCE}
    rows = staff_client.get(f"{API}/sellers/").json()["results"]
    assert [row["id"] for row in rows] == sorted((row["id"] for row in rows), reverse=True)
    assert expected_a in rows
    assert {"id": seller_b.pk, "name": "Shop B", "balance": START_BALANCE} in rows
    assert staff_client.get(f"{API}/sellers/{seller_a.pk}/").json() == expected_a


# Credit requests


def test_request_credit_then_read_it(client_a):
    response = post(client_a, f"{API}/credit-requests/", {"amount": 1_000_000})
    assert response.status_code == 201, response.content
    body = response.json()
    evidence = {"bank", "tracking_number", "transferred_on", "receipt_url"}  # issue 21: null when not given
    assert set(body) == {"id", "amount", "status", "created_at", "decided_at", "seller", *evidence}
    assert (body["amount"], body["status"], body["decided_at"]) == (1_000_000, "pending", None)
    assert [body[field] for field in sorted(evidence)] == [None] * 4
    assert is_timestamp(body["created_at"])
    assert client_a.get(f"{API}/credit-requests/{body['id']}/").json() == body
    assert client_a.get(f"{API}/credit-requests/").json()["results"][0] == body
    assert balance(client_a) == START_BALANCE  # nothing moves before approval


def test_approve_credits_once(client_a, staff_client):
    request_id = post(client_a, f"{API}/credit-requests/", {"amount": 250_000}).json()["id"]
    approve = f"{API}/credit-requests/{request_id}/approve/"

    first = staff_client.post(approve)
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "approved" and is_timestamp(first.json()["decided_at"])
    assert balance(client_a) == START_BALANCE + 250_000

    with nothing_written():
        again = staff_client.post(approve)
    assert (again.status_code, again.json()) == (200, first.json())
    assert client_a.get(f"{API}/credit-requests/{request_id}/").json() == first.json()
    credits = client_a.get(f"{API}/transactions/?kind=credit").json()["results"]
    assert [row["reference"] for row in credits if row["amount"] == 250_000] == [
        {"type": "credit_request", "id": request_id}
    ]


def test_reject_is_idempotent_and_moves_nothing(client_a, staff_client):
    request_id = post(client_a, f"{API}/credit-requests/", {"amount": 250_000}).json()["id"]
    reject = f"{API}/credit-requests/{request_id}/reject/"
    first = staff_client.post(reject)
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "rejected" and is_timestamp(first.json()["decided_at"])
    with nothing_written():
        again = staff_client.post(reject)
    assert (again.status_code, again.json()) == (200, first.json())
    assert balance(client_a) == START_BALANCE


@pytest.mark.parametrize("first, then", [("approve", "reject"), ("reject", "approve")])
def test_deciding_the_other_way_is_409(client_a, staff_client, first, then):
    request_id = post(client_a, f"{API}/credit-requests/", {"amount": 250_000}).json()["id"]
    assert staff_client.post(f"{API}/credit-requests/{request_id}/{first}/").status_code == 200
    with nothing_written():
        assert_error(staff_client.post(f"{API}/credit-requests/{request_id}/{then}/"), 409, "already_decided")


@pytest.mark.parametrize("status", ["pending", "approved", "rejected"])
def test_status_filter_on_credit_requests(client_a, staff_client, status):
    ids = {name: post(client_a, f"{API}/credit-requests/", {"amount": 1000}).json()["id"] for name in ["p", "a", "r"]}
    staff_client.post(f"{API}/credit-requests/{ids['a']}/approve/")
    staff_client.post(f"{API}/credit-requests/{ids['r']}/reject/")
    rows = client_a.get(f"{API}/credit-requests/", {"status": status}).json()["results"]
    assert {row["status"] for row in rows} == {status}
    assert ids[status[0]] in [row["id"] for row in rows]
    assert {ids[name] for name in ids if name != status[0]}.isdisjoint(row["id"] for row in rows)


# Recharges


RECHARGE_FIELDS = {
    "id",
    "phone_number",
    "amount",
    "balance_after",
    "created_at",
    "operator",
    "status",
    "operator_reference",
    "failure",
    "completed_at",
    # v1.2: the body gains these (null, 0 and 0 with the defaults).
    "product",
    "commission_rate",
    "commission",
}


@pytest.mark.parametrize(
    "written",
    [
        "09121234567",
        "+989121234567",
        "989121234567",
        "00989121234567",
        "9121234567",
        "0912 123 4567",
        "0912-123-4567",
        "+98 912 123 4567",
        "(0912) 123-4567",
        "۰۹۱۲۱۲۳۴۵۶۷",
    ],
)
def test_recharge_accepts_common_forms_and_answers_e164(client_a, written):
    response = post(client_a, f"{API}/recharges/", {"phone_number": written, "amount": 5000})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == RECHARGE_FIELDS
    assert (body["phone_number"], body["amount"], body["balance_after"]) == (E164, 5000, START_BALANCE - 5000)
    assert (body["operator"], body["status"], body["operator_reference"], body["failure"], body["completed_at"]) == (
        "mci",
        "pending",
        None,
        None,
        None,
    )
    assert is_timestamp(body["created_at"])
    assert client_a.get(f"{API}/recharges/{body['id']}/").json() == body
    assert client_a.get(f"{API}/recharges/").json()["results"] == [body]
    assert balance(client_a) == START_BALANCE - 5000


def test_recharge_of_the_whole_balance_then_402(client_a):
    assert post(client_a, f"{API}/recharges/", {**ITEM_BODY, "amount": START_BALANCE}).json()["balance_after"] == 0
    with nothing_written():
        response = post(client_a, f"{API}/recharges/", {**ITEM_BODY, "amount": 1})
    assert_error(response, 402, "insufficient_balance", {"balance": 0, "amount": 1})


def test_recharge_above_the_balance_is_402_and_writes_nothing(client_a):
    with nothing_written():
        response = post(client_a, f"{API}/recharges/", {**ITEM_BODY, "amount": START_BALANCE + 1})
    assert response.json() == {
        "error": {
            "code": "insufficient_balance",
            "message": "The balance does not cover this debit; nothing was charged.",
            "details": {"balance": START_BALANCE, "amount": START_BALANCE + 1},
        }
    }
    assert response.status_code == 402


# Adjustments and the ledger


def test_adjustments_move_the_balance_both_ways(staff_client, client_a, seller_a):
    path = f"{API}/sellers/{seller_a.pk}/adjustments/"
    plus = post(staff_client, path, {"amount": 5000, "reason": "goodwill"})
    minus = post(staff_client, path, {"amount": -START_BALANCE - 5000, "reason": "chargeback 1234"})
    assert plus.status_code == minus.status_code == 201
    assert plus.json() == {
        "id": plus.json()["id"],
        "amount": 5000,
        "reason": "goodwill",
        "balance_after": START_BALANCE + 5000,
    }
    assert minus.json() == {
        "id": minus.json()["id"],
        "amount": -START_BALANCE - 5000,
        "reason": "chargeback 1234",
        "balance_after": 0,
    }
    assert minus.json()["id"] > plus.json()["id"]
    assert balance(client_a) == 0
    rows = client_a.get(f"{API}/transactions/?kind=adjustment").json()["results"]
    assert [(row["amount"], row["reference"]) for row in rows] == [
        (-START_BALANCE - 5000, {"type": "adjustment", "id": minus.json()["id"]}),
        (5000, {"type": "adjustment", "id": plus.json()["id"]}),
    ]


def test_adjustment_that_would_overdraw_is_402(staff_client, seller_a):
    with nothing_written():
        response = post(
            staff_client, f"{API}/sellers/{seller_a.pk}/adjustments/", {"amount": -START_BALANCE - 1, "reason": "x"}
        )
    assert_error(response, 402, "insufficient_balance", {"balance": START_BALANCE, "amount": START_BALANCE + 1})


def test_transactions_show_every_kind_with_signed_amounts(client_a, staff_client, seller_a):
    sale = post(client_a, f"{API}/recharges/", ITEM_BODY).json()
    adjustment = post(
        staff_client, f"{API}/sellers/{seller_a.pk}/adjustments/", {"amount": -1000, "reason": "fee"}
    ).json()
    rows = client_a.get(f"{API}/transactions/").json()["results"]
    assert all(set(row) == {"id", "kind", "amount", "balance_after", "created_at", "reference"} for row in rows)
    assert all(is_timestamp(row["created_at"]) for row in rows)
    assert [(row["kind"], row["amount"], row["balance_after"], row["reference"]["type"]) for row in rows] == [
        ("adjustment", -1000, START_BALANCE - 6000, "adjustment"),
        ("recharge", -5000, START_BALANCE - 5000, "recharge"),
        ("credit", START_BALANCE, START_BALANCE, "credit_request"),
    ]
    assert rows[0]["reference"]["id"] == adjustment["id"]
    assert rows[1]["reference"]["id"] == sale["id"]


# 404 and 405


@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/v2/me/", "/nothing", "/api/v1/recharges/abc/", "/api/v1/me/extra/"]
)
def test_unknown_urls_are_404_with_the_error_body(client_a, anonymous_client, path):
    for client in (client_a, anonymous_client):
        assert_error(client.get(path), 404, "not_found")
        assert_error(post(client, path, {}), 404, "not_found")


@pytest.mark.parametrize("path", ["/credit-requests/{}/", "/recharges/{}/", "/recharge-batches/{}/"])
@pytest.mark.parametrize("missing_id", [0, 10**12, 2**63, 10**30])
def test_unknown_ids_are_404_for_sellers(client_a, path, missing_id):
    assert_error(client_a.get(API + path.format(missing_id)), 404, "not_found")


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/sellers/{}/"),
        ("GET", "/credit-requests/{}/"),
        ("POST", "/credit-requests/{}/approve/"),
        ("POST", "/credit-requests/{}/reject/"),
    ],
)
@pytest.mark.parametrize("missing_id", [10**12, 2**63])
def test_unknown_ids_are_404_for_staff(staff_client, method, path, missing_id):
    with nothing_written():
        response = getattr(staff_client, method.lower())(API + path.format(missing_id))
    assert_error(response, 404, "not_found")


def test_adjusting_an_unknown_seller_is_404(staff_client):
    with nothing_written():
        response = post(staff_client, f"{API}/sellers/{10**12}/adjustments/", {"amount": 5000, "reason": "x"})
    assert_error(response, 404, "not_found")


SELLER_405 = [
    ("post", "/me/"),
    ("delete", "/me/"),
    ("put", "/credit-requests/"),
    ("delete", "/credit-requests/{credit_request}/"),
    ("patch", "/recharges/"),
    ("put", "/recharges/{recharge}/"),
    ("delete", "/recharges/{recharge}/"),
    ("post", "/recharges/{recharge}/"),
    ("get", "/recharge-batches/"),
    ("delete", "/recharge-batches/{batch}/"),
    ("post", "/transactions/"),
    ("delete", "/transactions/"),
]
STAFF_405 = [
    ("delete", "/sellers/"),
    ("put", "/sellers/{seller}/"),
    ("delete", "/sellers/{seller}/"),
    ("get", "/sellers/{seller}/adjustments/"),
    ("get", "/credit-requests/{credit_request}/approve/"),
    ("delete", "/credit-requests/{credit_request}/reject/"),
    ("patch", "/credit-requests/{credit_request}/"),
]


@pytest.fixture
def ids(seller_a, sold, client_a):
    credit_request = post(client_a, f"{API}/credit-requests/", {"amount": 1000}).json()["id"]
    return {"seller": seller_a.pk, "credit_request": credit_request, **sold}


@pytest.mark.parametrize("method, path", SELLER_405)
def test_wrong_method_is_405_for_sellers(client_a, ids, method, path):
    with nothing_written():
        response = getattr(client_a, method)(API + path.format(**ids), {}, format="json")
    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("method, path", STAFF_405)
def test_wrong_method_is_405_for_staff(staff_client, ids, method, path):
    with nothing_written():
        response = getattr(staff_client, method)(API + path.format(**ids), {}, format="json")
    assert_error(response, 405, "method_not_allowed")


def test_a_sale_through_drf_answers_as_the_fast_path_does(client_a, monkeypatch):
    """With a per-seller rate limit set, sales go through DRF's full request
    handling instead of the fast path: same answers, same single debit."""
    from django.core.cache import cache

    from config.throttling import SellerRateThrottle

    fast = post(client_a, f"{API}/recharges/", recharge_body(), key="fast-1")
    monkeypatch.setattr(SellerRateThrottle, "THROTTLE_RATES", {"seller": "1000/second"})
    cache.clear()
    slow = post(client_a, f"{API}/recharges/", recharge_body(), key="slow-1")
    replay = post(client_a, f"{API}/recharges/", recharge_body(), key="slow-1")
    assert (fast.status_code, slow.status_code, replay.status_code) == (201, 201, 201)
    assert set(slow.json()) == set(fast.json()) == RECHARGE_FIELDS
    assert slow.json()["balance_after"] == fast.json()["balance_after"] - 5000
    assert (replay.json(), replay["Idempotent-Replayed"]) == (slow.json(), "true")
    assert balance(client_a) == START_BALANCE - 10_000
