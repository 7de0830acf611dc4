"""Commission rates over HTTP (contract v1.2): staff GET|PUT
/sellers/{id}/commissions/, every operator listed (0 where none is set), a
PUT replacing the whole set; the rate in force at a sale is fixed on the
recharge, and a successful one credits floor(amount * rate / 10000) as a
`commission` ledger entry. Bad input is 400 with nothing written."""

import threading

import pytest
from django.db import connection

from ledger.models import LedgerEntry
from recharges.delivery import resolve_recharge
from recharges.models import CommissionRate, Operator
from recharges.operators import DEFAULT_OPERATORS
from recharges.services import set_commission_rates
from tests.helpers.api import API, START_BALANCE, Raw, assert_error, nothing_written, post
from tests.helpers.catalogue import MCI_PHONE, books, staff_holding
from tests.helpers.sellers import client_for

ALL_ZERO = {code: 0 for code, _ in DEFAULT_OPERATORS}
INTEGER = "A JSON integer is required."


def url(seller) -> str:
    return f"{API}/sellers/{seller.pk}/commissions/"


def put(client, seller, rates):
    if isinstance(rates, Raw):
        return client.put(url(seller), rates.text, content_type=rates.content_type)
    return client.put(url(seller), rates, format="json")


def rows(seller) -> dict[str, int]:
    return dict(CommissionRate.objects.filter(seller=seller).values_list("operator_id", "rate"))


def test_every_operator_earns_0_until_staff_set_a_rate(staff_client, seller_a):
    response = staff_client.get(url(seller_a))
    assert (response.status_code, response.json()) == (200, ALL_ZERO)


def test_a_put_replaces_the_whole_set(staff_client, seller_a, seller_b):
    response = put(staff_client, seller_a, {"mci": 250, "irancell": 300})
    assert (response.status_code, response.json()) == (200, {**ALL_ZERO, "mci": 250, "irancell": 300})
    assert staff_client.get(url(seller_a)).json() == {**ALL_ZERO, "mci": 250, "irancell": 300}
    # An operator left out earns 0: its row is gone.
    assert put(staff_client, seller_a, {"mci": 100}).json() == {**ALL_ZERO, "mci": 100}
    assert rows(seller_a) == {"mci": 100}
    assert put(staff_client, seller_a, {"rightel": 0, "aptel": 10_000}).json() == {**ALL_ZERO, "aptel": 10_000}
    assert put(staff_client, seller_a, {}).json() == ALL_ZERO
    assert staff_client.get(url(seller_b)).json() == ALL_ZERO
    assert rows(seller_b) == {}


def test_an_operator_added_later_is_listed_at_0(staff_client, seller_a):
    Operator.objects.create(code="newop", name="New operator")
    put(staff_client, seller_a, {"newop": 40})
    assert staff_client.get(url(seller_a)).json() == {**ALL_ZERO, "newop": 40}


UNKNOWN = 'Unknown operator "{}"; GET /api/v1/operators/ lists them.'
BAD_BODIES = [
    ({"mci": 300, "nope": 5}, {"nope": [UNKNOWN.format("nope")]}),
    ({"MCI": 5}, {"MCI": [UNKNOWN.format("MCI")]}),
    ({"x" * 300: 5}, {"x" * 300: [UNKNOWN.format("x" * 300)]}),
    ({"mci": 10_001}, {"mci": ["Ensure this value is less than or equal to 10000."]}),
    ({"mci": -1}, {"mci": ["Ensure this value is greater than or equal to 0."]}),
    ({"mci": 2**64}, {"mci": ["Ensure this value is less than or equal to 10000."]}),
    ({"mci": 2.5}, {"mci": [INTEGER]}),
    ({"mci": 250.0}, {"mci": [INTEGER]}),
    ({"mci": "250"}, {"mci": [INTEGER]}),
    ({"mci": True}, {"mci": [INTEGER]}),
    ({"mci": False}, {"mci": [INTEGER]}),
    ({"mci": None}, {"mci": ["This field may not be null."]}),
    ({"mci": [250]}, {"mci": [INTEGER]}),
    ({"mci": {"rate": 250}}, {"mci": [INTEGER]}),
    ({"mci": 250, "irancell": "x", "nope": 1}, {"irancell": [INTEGER]}),
    ([{"mci": 250}], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    (Raw('"mci"'), {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
    (Raw("250"), {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
    (Raw("null"), {"non_field_errors": ["No data provided"]}),
    (Raw('{"mci": 250'), None),
    (Raw('{"mci": NaN}'), None),
    (Raw('{"mc\\u0000i": 250}'), None),
    (Raw("mci=250", "application/x-www-form-urlencoded"), None),
]


@pytest.mark.parametrize(("body", "details"), BAD_BODIES, ids=[repr(body)[:40] for body, _ in BAD_BODIES])
def test_bad_rates_are_400_and_write_nothing(staff_client, seller_a, body, details):
    put(staff_client, seller_a, {"mci": 300, "irancell": 200})
    with nothing_written():
        response = put(staff_client, seller_a, body)
    assert_error(
        response,
        400,
        "validation_error",
        None if isinstance(body, Raw) and body.content_type != "application/json" else details,
    )
    assert rows(seller_a) == {"mci": 300, "irancell": 200}


def test_an_unknown_seller_is_404(staff_client):
    assert_error(staff_client.get(f"{API}/sellers/999999/commissions/"), 404, "not_found")
    with nothing_written():
        response = staff_client.put(f"{API}/sellers/999999/commissions/", {"mci": 5}, format="json")
    assert_error(response, 404, "not_found")
    assert not CommissionRate.objects.exists()


def test_rates_need_the_commission_permissions(seller_a, client_a):
    viewer = client_for(staff_holding("recharges.view_commissionrate"))
    assert viewer.get(url(seller_a)).json() == ALL_ZERO
    for client in (viewer, client_a, client_for(staff_holding("sellers.view_seller", "sellers.change_seller"))):
        with nothing_written():
            assert_error(put(client, seller_a, {"mci": 5}), 403, "permission_denied")
    assert_error(client_a.get(url(seller_a)), 403, "permission_denied")
    assert_error(client_for(staff_holding("sellers.view_seller")).get(url(seller_a)), 403, "permission_denied")
    assert rows(seller_a) == {}


def test_the_rate_at_sale_is_fixed_on_the_recharge_and_paid_on_success(staff_client, staff_user, seller_a, client_a):
    put(staff_client, seller_a, {"mci": 250})
    first = post(client_a, f"{API}/recharges/", {"phone_number": MCI_PHONE, "amount": 100_000}).json()
    assert (first["commission_rate"], first["commission"]) == (250, 0)
    put(staff_client, seller_a, {"mci": 500})
    second = post(client_a, f"{API}/recharges/", {"phone_number": MCI_PHONE, "amount": 33_333}).json()
    third = post(client_a, f"{API}/recharges/", {"phone_number": MCI_PHONE, "amount": 10_000}).json()
    put(staff_client, seller_a, {})
    assert client_a.get(f"{API}/recharges/{first['id']}/").json()["commission_rate"] == 250
    assert client_a.get(f"{API}/recharges/{second['id']}/").json()["commission_rate"] == 500

    for recharge in (first, second):
        resolve_recharge(recharge_id=recharge["id"], successful=True, operator_reference="op", resolved_by=staff_user)
    resolve_recharge(recharge_id=third["id"], successful=False, resolved_by=staff_user)
    # floor(100000 * 250 / 10000) = 2500; floor(33333 * 500 / 10000) = 1666; nothing for the failed one.
    assert client_a.get(f"{API}/recharges/{first['id']}/").json()["commission"] == 2500
    assert client_a.get(f"{API}/recharges/{second['id']}/").json()["commission"] == 1666
    assert client_a.get(f"{API}/recharges/{third['id']}/").json()["commission"] == 0
    commissions = LedgerEntry.objects.filter(seller=seller_a, kind="commission")
    assert sorted(commissions.values_list("recharge_id", "amount")) == [(first["id"], 2500), (second["id"], 1666)]
    expected = START_BALANCE - 100_000 - 33_333 + 2500 + 1666
    # credit, three debits, two commissions, one refund
    assert books(seller_a) == (expected, 7, expected)


def _replace(seller_id: int, rates: dict, barrier: threading.Barrier, errors: list) -> None:
    try:
        barrier.wait()
        set_commission_rates(seller_id=seller_id, rates=rates)
    except Exception as error:  # noqa: BLE001 - reported by the test, in its own thread
        errors.append(error)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_puts_apply_one_whole_set_after_the_other(make_seller):
    seller = make_seller()
    sets = [{"mci": 100, "irancell": 100}, {"rightel": 200, "aptel": 200}]
    for _ in range(10):
        barrier, errors = threading.Barrier(len(sets)), []
        threads = [threading.Thread(target=_replace, args=(seller.pk, rates, barrier, errors)) for rates in sets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert rows(seller) in sets
