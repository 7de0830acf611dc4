"""Operators: detection from the number, the seller's override, and the
contract's 400s for an unknown, disabled or out-of-range operator (nothing
written), batch items included."""

import phonenumbers
import pytest
from django.conf import settings
from phonenumbers import carrier
from rest_framework.test import APIClient

from ledger.models import LedgerEntry
from recharges.models import Operator, Recharge
from recharges.operators import CARRIER_CODES, CARRIER_PREFIX_LENGTH, detect_operator
from recharges.phone_numbers import InvalidPhoneNumber, to_e164
from tests.helpers.api import API, post

START = 1_000_000


@pytest.fixture
def seller(make_seller):
    return make_seller(balance=START)


@pytest.fixture
def client(seller, seller_client):
    return seller_client(seller)


def nothing_written(seller) -> bool:
    seller.refresh_from_db()
    return seller.balance == START and not Recharge.objects.exists() and LedgerEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("number", "operator"),
    [
        ("+989121234567", "mci"),
        ("+989351234567", "irancell"),
        ("+989011234567", "irancell"),
        ("+989211234567", "rightel"),
        ("+989341234567", "telekish"),
        ("+989411234567", "mci"),  # libphonenumber names no carrier: the default operator
    ],
)
def test_the_operator_is_detected_from_the_number(number, operator):
    assert detect_operator(number) == operator


def test_detection_by_prefix_is_libphonenumber_s_for_every_assigned_mobile_range():
    # Every prefix of the carrier-prefix length in Iran's mobile ranges, a
    # number at each end of its range: the cached answer is the one a fresh
    # libphonenumber lookup gives for that number.
    checked = 0
    for head in range(10 ** (CARRIER_PREFIX_LENGTH - 4)):
        for tail in ("0" * 9, "9" * 9):
            raw = f"09{head:0{CARRIER_PREFIX_LENGTH - 4}d}{tail}"[:11]
            try:
                number = to_e164(raw)
            except InvalidPhoneNumber:
                continue
            name = carrier.name_for_number(phonenumbers.parse(number), "en")
            assert detect_operator(number) == CARRIER_CODES.get(name, settings.DEFAULT_OPERATOR), number
            checked += 1
    assert checked > 100


def test_a_sale_names_the_detected_or_chosen_operator(client):
    detected = post(client, f"{API}/recharges/", {"phone_number": "09351234567", "amount": 5000})
    ported = post(client, f"{API}/recharges/", {"phone_number": "09351234567", "amount": 5000, "operator": "rightel"})
    unnamed = post(client, f"{API}/recharges/", {"phone_number": "09351234567", "amount": 5000, "operator": None})
    batch = post(
        client,
        f"{API}/recharge-batches/",
        {"items": [{"phone_number": "09351234567", "amount": 5000, "operator": None}]},
    )
    assert [r.status_code for r in (detected, ported, unnamed, batch)] == [201] * 4
    assert [r["operator"] for r in (detected.json(), ported.json(), unnamed.json(), *batch.json()["recharges"])] == [
        "irancell",
        "rightel",
        "irancell",
        "irancell",
    ]


@pytest.mark.parametrize(
    ("change", "body", "field"),
    [
        ({}, {"operator": "nosuch"}, "operator"),
        ({}, {"operator": "MCI"}, "operator"),  # codes are exact lowercase
        ({}, {"operator": 7}, "operator"),
        ({"enabled": False}, {}, "operator"),
        ({"min_amount": 10_000}, {}, "amount"),
        ({"max_amount": 4_999}, {}, "amount"),
    ],
)
def test_an_operator_that_does_not_take_the_top_up_is_400(client, seller, change, body, field):
    Operator.objects.filter(code="mci").update(**change)
    response = post(client, f"{API}/recharges/", {"phone_number": "09121234567", "amount": 5000, **body})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], list(error["details"])) == ("validation_error", [field])
    assert nothing_written(seller)


def test_a_batch_with_one_refused_item_writes_nothing(client, seller):
    Operator.objects.filter(code="irancell").update(enabled=False)
    items = [{"phone_number": "09121234567", "amount": 5000}, {"phone_number": "09351234567", "amount": 5000}]
    response = post(client, f"{API}/recharge-batches/", {"items": items})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"] == {
        "items": {"1": {"operator": ['Operator "irancell" is not taking top-ups now.']}}
    }
    assert nothing_written(seller)


def test_operators_are_listed_for_sellers_and_staff(client, staff_client):
    Operator.objects.filter(code="aptel").update(enabled=False, min_amount=1_000, max_amount=500_000)
    for reader in (client, staff_client):
        response = reader.get(f"{API}/operators/")
        assert response.status_code == 200
        operators = {row["code"]: row for row in response.json()}
        assert set(operators) == {"mci", "irancell", "rightel", "mtce", "telekish", "aptel"}
        assert operators["mci"] == {
            "code": "mci",
            "name": "MCI (Hamrah-e Aval)",
            "enabled": True,
            "min_amount": 1,
            "max_amount": 10**15,
            # Contract v1.2's additions: no fixed denominations by default; the Persian name people know.
            "denominations": None,
            "name_fa": "همراه اول",
        }
        assert operators["aptel"]["enabled"] is False
    assert APIClient().get(f"{API}/operators/").status_code == 401


def test_recharges_filter_by_status(client, seller):
    first = post(client, f"{API}/recharges/", {"phone_number": "09121234567", "amount": 5000}).json()
    post(client, f"{API}/recharges/", {"phone_number": "09121234568", "amount": 5000})
    Recharge.objects.filter(pk=first["id"]).update(
        status="successful", operator_reference="R1", completed_at="2026-01-01T00:00:00Z", next_attempt_at=None
    )

    def ids(status):
        return [row["id"] for row in client.get(f"{API}/recharges/", {"status": status}).json()["results"]]

    assert ids("successful") == [first["id"]]
    assert len(ids("pending")) == 1 and ids("failed") == []
    assert client.get(f"{API}/recharges/", {"status": "lost"}).status_code == 400
    detail = client.get(f"{API}/recharges/{first['id']}/").json()
    assert (detail["status"], detail["operator_reference"], detail["completed_at"]) == (
        "successful",
        "R1",
        "2026-01-01T00:00:00.000000Z",
    )
