"""Small helpers for the API tests: sending bodies, reading errors, walking
pages, and proving that a refused request wrote nothing."""

import json
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from credits.models import CreditRequest
from idempotency.models import IdempotencyRecord
from ledger.models import BalanceAdjustment, LedgerEntry
from recharges.models import PhoneNumber, Recharge, RechargeBatch
from sellers.models import Seller

API = "/api/v1"
# What the `seller_a` and `seller_b` fixtures start with.
START_BALANCE = 1_000_000
PHONE = "09121234567"
E164 = "+989121234567"
ITEM_BODY = {"phone_number": PHONE, "amount": 5000}


@dataclass(frozen=True)
class Raw:
    """A request body sent exactly as written, with this content type."""

    text: str
    content_type: str = "application/json"


def post(client, path: str, body=None, key: str | None = None):
    """POSTs `body` as JSON (or a Raw body as is), with an optional Idempotency-Key."""
    headers = {} if key is None else {"Idempotency-Key": key}
    if isinstance(body, Raw):
        # generic: post() would send an empty content type as multipart.
        return client.generic("POST", path, body.text, content_type=body.content_type, headers=headers)
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def recharge_body(amount: int = 5000, phone_number: str = PHONE) -> dict:
    return {"phone_number": phone_number, "amount": amount}


def assert_error(response, status: int, code: str, details=None) -> dict:
    """The response is the contract's error body with this status and code
    (and exactly these details when given); returns the `error` object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) in ({"code", "message"}, {"code", "message", "details"})
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if details is not None:
        assert error.get("details") == details
    return error


def snapshot() -> dict:
    """Everything a refused request must leave untouched."""
    return {
        "balances": dict(Seller.objects.values_list("pk", "balance")),
        "users": get_user_model().objects.count(),
        "ledger_entries": LedgerEntry.objects.count(),
        "recharges": Recharge.objects.count(),
        "batches": RechargeBatch.objects.count(),
        "phone_numbers": PhoneNumber.objects.count(),
        "credit_requests": dict(CreditRequest.objects.values_list("pk", "status")),
        "adjustments": BalanceAdjustment.objects.count(),
        "idempotency_records": IdempotencyRecord.objects.count(),
    }


@contextmanager
def nothing_written():
    before = snapshot()
    yield
    assert snapshot() == before


def walk(client, url: str) -> list[list[dict]]:
    """Every page of a cursor-paginated list, following `next` from `url`."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        pages.append(body["results"])
        url = body["next"]
        assert url is None or url.startswith("http://testserver/")
    return pages


def all_rows(client, url: str) -> list[dict]:
    return [row for page in walk(client, url) for row in page]


def balance(client) -> int:
    response = client.get(f"{API}/me/")
    assert response.status_code == 200, response.content
    return response.json()["balance"]
