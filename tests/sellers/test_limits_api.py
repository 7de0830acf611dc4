"""A seller's limits over HTTP (contract v1.2): staff GET|PUT
/sellers/{id}/limits/ (a PUT replaces the whole set), a sale past one is 403
limit_exceeded with exact details, stored under its Idempotency-Key and
replayed like a 402, checks in the order 400, 403, 402; GET /me/ shows the
limits and the day's amount; PUT /me/alerts/ sets the low-balance alert.
Bad input is 400 with nothing written."""

import pytest

from recharges.delivery import resolve_recharge
from sellers.admin import SellerForm
from sellers.models import Seller
from tests.helpers.api import API, START_BALANCE, Raw, assert_error, balance, nothing_written, post
from tests.helpers.catalogue import IRANCELL_PHONE, MCI_PHONE, books, staff_holding
from tests.helpers.sellers import client_for

RECHARGES = f"{API}/recharges/"
BATCHES = f"{API}/recharge-batches/"
ITEM = {"phone_number": MCI_PHONE, "amount": 5000}
NO_LIMITS = {"max_recharge_amount": None, "daily_amount": None, "number_hourly_count": None}
INTEGER = "A JSON integer is required."
NULL = "This field may not be null."
AT_LEAST_1 = "Ensure this value is greater than or equal to 1."


def limits_url(seller) -> str:
    return f"{API}/sellers/{seller.pk}/limits/"


def put_limits(client, seller, limits: dict):
    return client.put(limits_url(seller), limits, format="json")


def settings_of(seller) -> tuple:
    """What a refused PUT must leave as it was: the seller's limits and alert."""
    row = Seller.objects.get(pk=seller.pk)
    return row.max_recharge_amount, row.daily_amount, row.number_hourly_count, row.low_balance_threshold


def at_most(bound: int) -> str:
    return f"Ensure this value is less than or equal to {bound}."


# --- GET|PUT /sellers/{id}/limits/ -------------------------------------------------


def test_limits_are_none_until_staff_set_them(staff_client, seller_a):
    response = staff_client.get(limits_url(seller_a))
    assert (response.status_code, response.json()) == (200, NO_LIMITS)


def test_a_put_replaces_the_whole_set(staff_client, seller_a, seller_b):
    full = {"max_recharge_amount": 10**15, "daily_amount": 10**15, "number_hourly_count": 2**31 - 1}
    response = put_limits(staff_client, seller_a, full)
    assert (response.status_code, response.json()) == (200, full)
    assert staff_client.get(limits_url(seller_a)).json() == full
    # A key left out becomes null.
    response = put_limits(staff_client, seller_a, {"daily_amount": 20_000})
    assert response.json() == {**NO_LIMITS, "daily_amount": 20_000}
    assert settings_of(seller_a) == (None, 20_000, None, None)
    response = put_limits(staff_client, seller_a, {})
    assert (response.status_code, response.json()) == (200, NO_LIMITS)
    assert settings_of(seller_a) == settings_of(seller_b) == (None, None, None, None)


def test_the_largest_values_the_api_takes_are_valid_in_the_admin_s_seller_form(staff_client, seller_a, client_a):
    largest = {"max_recharge_amount": 10**15, "daily_amount": 10**15, "number_hourly_count": 2**31 - 1}
    put_limits(staff_client, seller_a, largest)
    client_a.put(f"{API}/me/alerts/", {"low_balance": 10**15}, format="json")
    seller = Seller.objects.get(pk=seller_a.pk)
    data = {"user": seller.user_id, "name": seller.name, **largest, "low_balance_threshold": 10**15}
    form = SellerForm(data=data, instance=seller)
    assert form.is_valid(), form.errors


BAD_LIMITS = [
    *[
        (name, value, message)
        for name, bound in [
            ("max_recharge_amount", 10**15),
            ("daily_amount", 10**15),
            ("number_hourly_count", 2**31 - 1),
        ]
        for value, message in [
            (0, AT_LEAST_1),
            (-1, AT_LEAST_1),
            (-(2**64), AT_LEAST_1),
            (bound + 1, at_most(bound)),
            (2**64, at_most(bound)),
            (True, INTEGER),
            (False, INTEGER),
            ("5000", INTEGER),
            (5000.0, INTEGER),
            (5000.5, INTEGER),
            ([5000], INTEGER),
            ({"value": 5000}, INTEGER),
        ]
    ],
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_LIMITS, ids=[f"{n}-{v!r}"[:50] for n, v, _ in BAD_LIMITS])
def test_a_bad_limit_is_400_and_writes_nothing(staff_client, seller_a, name, value, message):
    put_limits(staff_client, seller_a, {"max_recharge_amount": 7000})
    before = settings_of(seller_a)
    with nothing_written():
        response = put_limits(staff_client, seller_a, {"daily_amount": 9000, name: value})
    assert_error(response, 400, "validation_error", {name: [message]})
    assert settings_of(seller_a) == before


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"daily_amount": 9000, "max_amount": 5},
            {"max_amount": ["Unknown field; the fields are max_recharge_amount, daily_amount, number_hourly_count."]},
        ),
        (
            {"daily_amount": 0, "limits": {}},
            {
                "daily_amount": [AT_LEAST_1],
                "limits": ["Unknown field; the fields are max_recharge_amount, daily_amount, number_hourly_count."],
            },
        ),
        ([NO_LIMITS], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ("x", {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        (Raw("null"), {"non_field_errors": ["No data provided"]}),
        (Raw('{"daily_amount": 5'), None),
    ],
    ids=["unknown-key", "unknown-key-and-bad-value", "list", "string", "null", "malformed"],
)
def test_a_body_that_is_not_the_set_is_400(staff_client, seller_a, body, details):
    before = settings_of(seller_a)
    with nothing_written():
        if isinstance(body, Raw):
            response = staff_client.put(limits_url(seller_a), body.text, content_type=body.content_type)
        else:
            response = put_limits(staff_client, seller_a, body)
        assert_error(response, 400, "validation_error", details)
    assert settings_of(seller_a) == before


def test_limits_of_an_unknown_seller_are_404(staff_client):
    assert_error(staff_client.get(f"{API}/sellers/999999/limits/"), 404, "not_found")
    with nothing_written():
        assert_error(
            staff_client.put(f"{API}/sellers/999999/limits/", {"daily_amount": 5}, format="json"), 404, "not_found"
        )


def test_limits_need_the_seller_permissions(seller_a, client_a):
    viewer = client_for(staff_holding("sellers.view_seller"))
    assert viewer.get(limits_url(seller_a)).status_code == 200
    for client in (viewer, client_a, client_for(staff_holding())):
        with nothing_written():
            assert_error(put_limits(client, seller_a, {"daily_amount": 5}), 403, "permission_denied")
    assert_error(client_a.get(limits_url(seller_a)), 403, "permission_denied")
    assert settings_of(seller_a) == (None, None, None, None)


# --- sales held to the limits --------------------------------------------------------


def test_a_sale_past_max_recharge_amount_is_403_stored_and_replayed(staff_client, seller_a, client_a):
    put_limits(staff_client, seller_a, {"max_recharge_amount": 4999})
    refused = post(client_a, RECHARGES, ITEM, key="over-max")
    assert_error(refused, 403, "limit_exceeded", {"limit": "max_recharge_amount", "allowed": 4999, "used": 5000})
    assert "Idempotent-Replayed" not in refused
    assert books(seller_a) == (START_BALANCE, 1, START_BALANCE)
    # Stored with its key: the same answer, byte for byte, even once the limit is lifted.
    put_limits(staff_client, seller_a, {})
    with nothing_written():
        replay = post(client_a, RECHARGES, ITEM, key="over-max")
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (403, refused.content, "true")
    # A new key sells.
    assert post(client_a, RECHARGES, ITEM, key="after-lift").status_code == 201
    assert books(seller_a) == (START_BALANCE - 5000, 2, START_BALANCE - 5000)


def test_a_refused_sale_writes_only_its_key(staff_client, seller_a, client_a):
    put_limits(staff_client, seller_a, {"max_recharge_amount": 4999})
    with nothing_written():
        assert post(client_a, RECHARGES, ITEM).status_code == 403  # no key: nothing at all
        assert post(client_a, BATCHES, {"items": [ITEM]}).status_code == 403


def test_daily_amount_counts_the_day_s_sales_and_a_batch_whole(staff_client, seller_a, client_a):
    put_limits(staff_client, seller_a, {"daily_amount": 12_000})
    assert post(client_a, RECHARGES, ITEM).status_code == 201
    assert post(client_a, BATCHES, {"items": [ITEM]}).status_code == 201
    with nothing_written():
        refused = post(client_a, RECHARGES, {**ITEM, "amount": 2001})
    assert_error(refused, 403, "limit_exceeded", {"limit": "daily_amount", "allowed": 12_000, "used": 10_000})
    # Two items of 1,000 and 1,001: each fits, together they pass the limit.
    refused = post(client_a, BATCHES, {"items": [{**ITEM, "amount": 1000}, {**ITEM, "amount": 1001}]}, key="b")
    assert books(seller_a) == (START_BALANCE - 10_000, 3, START_BALANCE - 10_000)
    assert_error(refused, 403, "limit_exceeded", {"limit": "daily_amount", "allowed": 12_000, "used": 10_000})
    replay = post(client_a, BATCHES, {"items": [{**ITEM, "amount": 1000}, {**ITEM, "amount": 1001}]}, key="b")
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (403, refused.content, "true")
    assert post(client_a, RECHARGES, {**ITEM, "amount": 2000}).status_code == 201
    assert books(seller_a) == (START_BALANCE - 12_000, 4, START_BALANCE - 12_000)
    assert client_a.get(f"{API}/me/").json()["daily_amount_used"] == 12_000


def test_checks_run_in_the_order_400_then_403_then_402(staff_client, seller_a, client_a):
    put_limits(staff_client, seller_a, {"max_recharge_amount": 2 * START_BALANCE})
    over_both = {**ITEM, "amount": 2 * START_BALANCE + 1}
    with nothing_written():
        assert_error(post(client_a, RECHARGES, {**over_both, "operator": "nope"}, key="o1"), 400, "validation_error")
        assert_error(
            post(client_a, RECHARGES, {**over_both, "phone_number": "abc"}, key="o1"),
            400,
            "validation_error",
            {"phone_number": ["Enter an Iranian mobile number, e.g. 09121234567."]},
        )
    # Over the limit and the balance: the limit answers.
    assert_error(
        post(client_a, RECHARGES, over_both, key="o1"),
        403,
        "limit_exceeded",
        {"limit": "max_recharge_amount", "allowed": 2 * START_BALANCE, "used": 2 * START_BALANCE + 1},
    )
    # Within the limit, over the balance: 402.
    assert_error(
        post(client_a, RECHARGES, {**ITEM, "amount": START_BALANCE + 1}, key="o2"),
        402,
        "insufficient_balance",
        {"balance": START_BALANCE, "amount": START_BALANCE + 1},
    )
    assert books(seller_a) == (START_BALANCE, 1, START_BALANCE)


@pytest.mark.django_db(transaction=True)  # the hourly count's refusal undoes the sale's statement by raising
def test_number_hourly_count_counts_the_number_s_sales_that_have_not_failed(
    make_seller, seller_client, staff_client, staff_user
):
    seller = make_seller(balance=START_BALANCE)
    client = seller_client(seller)
    put_limits(staff_client, seller, {"number_hourly_count": 2})
    first = post(client, RECHARGES, ITEM)
    assert post(client, RECHARGES, {**ITEM, "phone_number": "+98 912 123 4567"}).status_code == 201
    expected = {"limit": "number_hourly_count", "allowed": 2, "used": 2}
    with nothing_written():
        checked = post(client, RECHARGES + "?validate_only=true", ITEM)
    refused = post(client, RECHARGES, ITEM, key="third")
    assert_error(refused, 403, "limit_exceeded", expected)
    assert checked.json() == refused.json()
    with nothing_written():
        replay = post(client, RECHARGES, ITEM, key="third")
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (403, refused.content, "true")
    with nothing_written():
        assert_error(
            post(client, BATCHES, {"items": [{**ITEM, "phone_number": IRANCELL_PHONE}, ITEM]}),
            403,
            "limit_exceeded",
            expected,
        )
    # Another number is not counted; a failed sale no longer counts.
    assert post(client, RECHARGES, {**ITEM, "phone_number": IRANCELL_PHONE}).status_code == 201
    resolve_recharge(recharge_id=first.json()["id"], successful=False, resolved_by=staff_user)
    assert post(client, RECHARGES, ITEM).status_code == 201
    # Four sales, one refunded.
    assert books(seller) == (START_BALANCE - 15_000, 6, START_BALANCE - 15_000)


# --- GET /me/ --------------------------------------------------------------------------


def test_me_shows_the_limits_and_the_day_s_amount(staff_client, staff_user, seller_a, client_a):
    assert client_a.get(f"{API}/me/").json() == {
        "id": seller_a.pk,
        "name": "Shop A",
        "balance": START_BALANCE,
        "limits": NO_LIMITS,
        "daily_amount_used": 0,
    }
    limits = {"max_recharge_amount": 100_000, "daily_amount": 500_000, "number_hourly_count": 3}
    put_limits(staff_client, seller_a, limits)
    sold = post(client_a, RECHARGES, ITEM).json()
    assert post(client_a, BATCHES, {"items": [{**ITEM, "amount": 7000}, ITEM]}).status_code == 201
    me = client_a.get(f"{API}/me/").json()
    assert me == {**me, "balance": START_BALANCE - 17_000, "limits": limits, "daily_amount_used": 17_000}
    # A failure frees its amount from the day's total.
    resolve_recharge(recharge_id=sold["id"], successful=False, resolved_by=staff_user)
    me = client_a.get(f"{API}/me/").json()
    assert (me["balance"], me["daily_amount_used"]) == (START_BALANCE - 12_000, 12_000)
    # The row keeps an earlier day's total: on a new business day nothing is used yet.
    Seller.objects.filter(pk=seller_a.pk).update(daily_amount_day="2020-01-01")
    assert client_a.get(f"{API}/me/").json()["daily_amount_used"] == 0
    assert balance(client_a) == START_BALANCE - 12_000


def test_me_without_any_sale_today_and_for_staff(seller_a, client_a, staff_client):
    assert client_a.get(f"{API}/me/").json()["daily_amount_used"] == 0
    assert_error(staff_client.get(f"{API}/me/"), 403, "permission_denied")


# --- GET|PUT /me/alerts/ -----------------------------------------------------------------


def test_the_low_balance_alert_is_set_read_and_turned_off(seller_a, seller_b, client_a):
    assert client_a.get(f"{API}/me/alerts/").json() == {"low_balance": None}
    response = client_a.put(f"{API}/me/alerts/", {"low_balance": 1_000_000}, format="json")
    assert (response.status_code, response.json()) == (200, {"low_balance": 1_000_000})
    assert client_a.get(f"{API}/me/alerts/").json() == {"low_balance": 1_000_000}
    assert settings_of(seller_a) == (None, None, None, 1_000_000)
    assert settings_of(seller_b) == (None, None, None, None)
    assert client_a.put(f"{API}/me/alerts/", {"low_balance": 10**15}, format="json").json() == {"low_balance": 10**15}
    response = client_a.put(f"{API}/me/alerts/", {"low_balance": None}, format="json")
    assert (response.status_code, response.json()) == (200, {"low_balance": None})
    client_a.put(f"{API}/me/alerts/", {"low_balance": 5}, format="json")
    # As in every PUT of a whole set, a key left out is null.
    assert client_a.put(f"{API}/me/alerts/", {}, format="json").json() == {"low_balance": None}
    assert settings_of(seller_a) == (None, None, None, None)


BAD_ALERTS = [
    ({"low_balance": 0}, {"low_balance": [AT_LEAST_1]}),
    ({"low_balance": -5}, {"low_balance": [AT_LEAST_1]}),
    ({"low_balance": 10**15 + 1}, {"low_balance": [at_most(10**15)]}),
    ({"low_balance": True}, {"low_balance": [INTEGER]}),
    ({"low_balance": "1000"}, {"low_balance": [INTEGER]}),
    ({"low_balance": 1000.0}, {"low_balance": [INTEGER]}),
    ({"low_balance": 1000, "high_balance": 5}, {"high_balance": ["Unknown field; the fields are low_balance."]}),
    ([1000], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
]


@pytest.mark.parametrize(("body", "details"), BAD_ALERTS, ids=[repr(body)[:40] for body, _ in BAD_ALERTS])
def test_a_bad_alert_is_400_and_writes_nothing(seller_a, client_a, body, details):
    client_a.put(f"{API}/me/alerts/", {"low_balance": 777}, format="json")
    with nothing_written():
        assert_error(client_a.put(f"{API}/me/alerts/", body, format="json"), 400, "validation_error", details)
    assert settings_of(seller_a) == (None, None, None, 777)


def test_alerts_are_the_seller_s_own(staff_client):
    with nothing_written():
        assert_error(staff_client.put(f"{API}/me/alerts/", {"low_balance": 5}, format="json"), 403, "permission_denied")
    assert_error(staff_client.get(f"{API}/me/alerts/"), 403, "permission_denied")
