"""Contract v1.2's reseller rules through the services and the real database:
commission fixed at sale and paid once on success, limits in the sale's
statement (403 before 402, a failure frees its amount), packages and
denominations, validate-only writing nothing, balance.low once per crossing."""

import json

import pytest
from django.db import connection
from django.db.models import Sum

from callbacks.models import CallbackEvent
from callbacks.services import set_callback_url
from config.errors import InvalidInput
from ledger.models import LedgerEntry
from ledger.selectors import reconcile
from ledger.services import adjust_balance
from recharges.delivery import Outcome, record_outcomes, resolve_recharge
from recharges.models import CommissionRate, Operator, Product, Recharge
from recharges.selectors import get_recharge
from recharges.services import sell_recharge, sell_recharge_batch, validate_recharge, validate_recharge_batch
from sellers.models import Seller
from tests.helpers.sellers import fund

MCI = "+989121234567"
MCI_2 = "+989121234568"
IRANCELL = "+989351234567"
START = 1_000_000


@pytest.fixture
def seller(make_seller):
    return make_seller(balance=START)


def sale(seller, phone=MCI, amount: int | None = 10_000, **kwargs):
    result = sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount, **kwargs)
    return result.status_code, json.loads(result.body)


def sold(seller, phone=MCI, amount: int | None = 10_000, **kwargs) -> dict:
    status, body = sale(seller, phone, amount, **kwargs)
    assert status == 201, body
    return body


def succeed(recharge_id: int) -> None:
    record_outcomes([Outcome(recharge_id=recharge_id, status="successful", operator_reference=f"OP-{recharge_id}")])


def fail(recharge_id: int) -> None:
    record_outcomes([Outcome(recharge_id=recharge_id, status="failed", failure_code="operator_declined")])


def entries(seller, kind: str) -> list[tuple[int, int]]:
    return list(
        LedgerEntry.objects.filter(seller=seller, kind=kind).order_by("sequence").values_list("recharge_id", "amount")
    )


def assert_books(seller) -> None:
    seller.refresh_from_db()
    assert LedgerEntry.objects.filter(seller=seller).aggregate(total=Sum("amount"))["total"] == seller.balance
    assert reconcile() == []


def set_rate(seller, operator: str, rate: int) -> None:
    CommissionRate.objects.update_or_create(seller=seller, operator_id=operator, defaults={"rate": rate})


def set_limits(seller, **limits) -> None:
    Seller.objects.filter(pk=seller.pk).update(**limits)


# Commission


def test_a_successful_recharge_earns_its_commission_once_at_the_rate_fixed_at_sale(seller):
    set_rate(seller, "mci", 250)
    recharge = sold(seller, amount=12_345)
    assert (recharge["commission_rate"], recharge["commission"]) == (250, 0)
    set_rate(seller, "mci", 900)  # applies to the next sale only

    succeed(recharge["id"])
    succeed(recharge["id"])  # a repeated answer changes nothing

    assert entries(seller, "commission") == [(recharge["id"], 308)]  # floor(12,345 * 250 / 10,000)
    body = get_recharge(recharge_id=recharge["id"], seller_id=seller.pk)
    assert (body["status"], body["commission_rate"], body["commission"]) == ("successful", 250, 308)
    seller.refresh_from_db()
    assert seller.balance == START - 12_345 + 308
    assert sold(seller)["commission_rate"] == 900
    assert_books(seller)


def test_a_failed_recharge_earns_nothing_and_is_refunded(seller):
    set_rate(seller, "mci", 300)
    recharge = sold(seller, amount=20_000)
    fail(recharge["id"])
    assert entries(seller, "commission") == []
    body = get_recharge(recharge_id=recharge["id"], seller_id=seller.pk)
    assert (body["status"], body["commission_rate"], body["commission"]) == ("failed", 300, 0)
    seller.refresh_from_db()
    assert seller.balance == START
    assert_books(seller)


def test_staff_resolving_a_recharge_successful_pays_its_commission(seller, staff_user):
    set_rate(seller, "irancell", 10_000)
    recharge = sold(seller, IRANCELL, 7_000)
    resolve_recharge(recharge_id=recharge["id"], successful=True, operator_reference="MANUAL-1", resolved_by=staff_user)
    assert entries(seller, "commission") == [(recharge["id"], 7_000)]
    seller.refresh_from_db()
    assert seller.balance == START
    assert_books(seller)


def test_a_commission_that_rounds_to_nothing_posts_no_entry(seller):
    set_rate(seller, "mci", 1)
    recharge = sold(seller, amount=9_999)  # floor(0.9999) = 0
    succeed(recharge["id"])
    assert entries(seller, "commission") == []
    assert get_recharge(recharge_id=recharge["id"], seller_id=seller.pk)["commission"] == 0
    assert_books(seller)


def test_successes_of_several_sellers_in_one_batch_each_earn_theirs(make_seller):
    sellers = [make_seller(balance=START) for _ in range(3)]
    for index, seller in enumerate(sellers):
        set_rate(seller, "mci", 100 * (index + 1))
    ids = [sold(seller, amount=10_000)["id"] for seller in sellers for _ in range(2)]
    record_outcomes([Outcome(recharge_id=i, status="successful", operator_reference=f"R{i}") for i in ids])
    for index, seller in enumerate(sellers):
        assert [amount for _, amount in entries(seller, "commission")] == [100 * (index + 1)] * 2
        assert_books(seller)


# Limits


def test_max_recharge_amount_refuses_a_larger_sale_and_writes_nothing(seller):
    set_limits(seller, max_recharge_amount=50_000)
    assert sold(seller, amount=50_000)["amount"] == 50_000
    status, body = sale(seller, amount=50_001)
    assert status == 403
    assert body["error"]["code"] == "limit_exceeded"
    assert body["error"]["details"] == {"limit": "max_recharge_amount", "allowed": 50_000, "used": 50_001}
    assert Recharge.objects.filter(seller=seller).count() == 1
    seller.refresh_from_db()
    assert seller.balance == START - 50_000
    assert_books(seller)


def test_daily_amount_counts_the_days_sales_and_a_failure_frees_its_amount(seller):
    set_limits(seller, daily_amount=30_000)
    first = sold(seller, amount=10_000)
    sold(seller, amount=20_000)
    status, body = sale(seller, amount=1)
    assert (status, body["error"]["details"]) == (403, {"limit": "daily_amount", "allowed": 30_000, "used": 30_000})
    fail(first["id"])
    seller.refresh_from_db()
    assert seller.daily_amount_used == 20_000
    sold(seller, amount=10_000)
    status, _ = sale(seller, amount=1)
    assert status == 403
    seller.refresh_from_db()
    assert seller.balance == START - 30_000
    assert_books(seller)


def test_a_limit_refuses_before_the_balance_does(make_seller):
    poor = make_seller(balance=5_000)
    set_limits(poor, max_recharge_amount=6_000)
    status, body = sale(poor, amount=7_000)
    assert (status, body["error"]["details"]["limit"]) == (403, "max_recharge_amount")
    status, body = sale(poor, amount=6_000)
    assert (status, body["error"]["details"]) == (402, {"balance": 5_000, "amount": 6_000})


@pytest.mark.django_db(transaction=True)
def test_number_hourly_count_counts_the_sellers_recharges_to_the_number_that_have_not_failed(make_seller):
    seller = make_seller(balance=START)
    other = make_seller(balance=START)
    set_limits(seller, number_hourly_count=2)
    first = sold(seller, MCI)
    sold(seller, MCI)
    sold(other, MCI)  # another seller's sale to the number does not count
    sold(seller, MCI_2)
    status, body = sale(seller, MCI)
    assert (status, body["error"]["details"]) == (403, {"limit": "number_hourly_count", "allowed": 2, "used": 2})
    fail(first["id"])
    sold(seller, MCI)
    assert Recharge.objects.filter(seller=seller).count() == 4
    seller.refresh_from_db()
    assert seller.balance == START - 30_000  # four sold, one refunded
    assert_books(seller)


@pytest.mark.django_db(transaction=True)
def test_a_refusal_by_the_hourly_count_is_stored_under_its_key_and_replayed(make_seller):
    seller = make_seller(balance=START)
    set_limits(seller, number_hourly_count=1)
    sold(seller, MCI)
    first = sell_recharge(seller_id=seller.pk, phone_number=MCI, amount=10_000, idempotency_key="k1", request_hash="h")
    again = sell_recharge(seller_id=seller.pk, phone_number=MCI, amount=10_000, idempotency_key="k1", request_hash="h")
    assert (first.status_code, first.replayed, again.status_code, again.replayed) == (403, False, 403, True)
    assert first.body == again.body
    seller.refresh_from_db()
    assert seller.balance == START - 10_000
    assert_books(seller)


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_refused_whole_when_its_items_together_pass_a_limit(make_seller):
    seller = make_seller(balance=START)
    set_limits(seller, daily_amount=25_000)
    result = sell_recharge_batch(seller_id=seller.pk, items=[(MCI, 10_000), (IRANCELL, 10_000), (MCI_2, 10_000)])
    assert result.status_code == 403
    assert json.loads(result.body)["error"]["details"] == {"limit": "daily_amount", "allowed": 25_000, "used": 0}
    set_limits(seller, daily_amount=None, number_hourly_count=1)
    result = sell_recharge_batch(seller_id=seller.pk, items=[(MCI, 10_000), (IRANCELL, 10_000), (MCI, 10_000)])
    assert result.status_code == 403
    assert json.loads(result.body)["error"]["details"] == {"limit": "number_hourly_count", "allowed": 1, "used": 0}
    assert Recharge.objects.filter(seller=seller).count() == 0
    seller.refresh_from_db()
    assert (seller.balance, seller.daily_amount_used) == (START, 0)
    assert_books(seller)


# Catalogue


@pytest.fixture
def package(db):
    return Product.objects.create(
        code="mci-5gb-30d",
        operator_id="mci",
        name="5 GB, 30 days",
        name_fa="۵ گیگ، ۳۰ روزه",
        amount=150_000,
        data_mb=5_120,
        validity_days=30,
    )


def test_a_package_is_sold_at_its_amount_earns_commission_and_counts_against_limits(seller, package):
    set_rate(seller, "mci", 500)
    set_limits(seller, daily_amount=300_000)
    recharge = sold(seller, amount=None, product="mci-5gb-30d")
    assert (recharge["product"], recharge["amount"], recharge["commission_rate"]) == ("mci-5gb-30d", 150_000, 500)
    assert sold(seller, amount=150_000, product="mci-5gb-30d")["amount"] == 150_000
    status, body = sale(seller, amount=None, product="mci-5gb-30d")
    assert (status, body["error"]["details"]["limit"]) == (403, "daily_amount")
    succeed(recharge["id"])
    assert entries(seller, "commission") == [(recharge["id"], 7_500)]
    assert_books(seller)


@pytest.mark.parametrize(
    ("phone", "amount", "product", "field", "problem"),
    [
        (MCI, None, "nope", "product", "unknown"),
        (IRANCELL, None, "mci-5gb-30d", "product", "operator"),
        (MCI, 149_999, "mci-5gb-30d", "product", "amount"),
        (MCI, None, "mci-off", "product", "disabled"),
    ],
)
def test_a_product_that_cannot_be_sold_is_a_400_that_writes_nothing(
    seller, package, phone, amount, product, field, problem
):
    Product.objects.create(
        code="mci-off",
        operator_id="mci",
        name="Off",
        name_fa="خاموش",
        amount=1_000,
        data_mb=1,
        validity_days=1,
        enabled=False,
    )
    with pytest.raises(InvalidInput) as refused:
        sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount, product=product)
    assert field in refused.value.details
    assert Recharge.objects.filter(seller=seller).count() == 0


def test_an_operator_with_denominations_sells_only_those_amounts_as_airtime(seller, package):
    Operator.objects.filter(code="mci").update(denominations=[10_000, 20_000, 50_000])
    with pytest.raises(InvalidInput) as refused:
        sell_recharge(seller_id=seller.pk, phone_number=MCI, amount=15_000)
    assert refused.value.details is not None
    assert "10000" in str(refused.value.details["amount"]) or "10,000" in str(refused.value.details["amount"])
    assert sold(seller, amount=20_000)["amount"] == 20_000
    assert sold(seller, amount=None, product="mci-5gb-30d")["amount"] == 150_000  # packages are not airtime
    assert sold(seller, IRANCELL, 15_000)["amount"] == 15_000  # another operator's rule


# Validate-only


def counts(seller) -> tuple:
    seller.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM idempotency_idempotencyrecord")
        (keys,) = cursor.fetchone()
    return (
        seller.balance,
        seller.daily_amount_used,
        LedgerEntry.objects.filter(seller=seller).count(),
        Recharge.objects.count(),
        CallbackEvent.objects.count(),
        keys,
    )


def test_validate_only_answers_as_the_sale_would_and_writes_nothing(seller):
    set_rate(seller, "mci", 200)
    set_callback_url(seller_id=seller.pk, url="https://example.com/hook")
    Seller.objects.filter(pk=seller.pk).update(low_balance_threshold=START)  # a real sale would cross it
    before = counts(seller)
    result = validate_recharge(seller_id=seller.pk, phone_number=MCI, amount=10_000)
    assert (result.status_code, json.loads(result.body)) == (
        200,
        {"valid": True, "operator": "mci", "amount": 10_000, "commission_rate": 200, "balance_after": START - 10_000},
    )
    result = validate_recharge_batch(
        seller_id=seller.pk, items=[(MCI, 10_000, None, None), (IRANCELL, 5_000, None, None)]
    )
    assert (result.status_code, json.loads(result.body)) == (
        200,
        {"valid": True, "count": 2, "total_amount": 15_000, "balance_after": START - 15_000},
    )
    assert counts(seller) == before


def test_validate_only_gives_the_sales_own_refusal(seller):
    set_limits(seller, max_recharge_amount=1_000)
    validated = validate_recharge(seller_id=seller.pk, phone_number=MCI, amount=2_000)
    real = sell_recharge(seller_id=seller.pk, phone_number=MCI, amount=2_000)
    assert (validated.status_code, validated.body) == (real.status_code, real.body) == (403, real.body)
    set_limits(seller, max_recharge_amount=None)
    validated = validate_recharge(seller_id=seller.pk, phone_number=MCI, amount=START + 1)
    real = sell_recharge(seller_id=seller.pk, phone_number=MCI, amount=START + 1)
    assert (validated.status_code, validated.body) == (real.status_code, real.body)
    assert validated.status_code == 402


# Low balance


def low_events(seller) -> list[dict]:
    return [
        json.loads(event.body)
        for event in CallbackEvent.objects.filter(seller=seller, type="balance.low").order_by("created_at")
    ]


def test_balance_low_is_sent_once_per_crossing_and_rearmed_by_any_entry_back_above(seller, staff_user):
    set_callback_url(seller_id=seller.pk, url="https://example.com/hook")
    Seller.objects.filter(pk=seller.pk).update(low_balance_threshold=900_000)
    sold(seller, amount=100_000)  # 1,000,000 -> 900,000: at the threshold, not below
    assert low_events(seller) == []
    crossing = sold(seller, amount=1)  # -> 899,999
    sold(seller, amount=1)  # still below: no second event
    events = low_events(seller)
    assert [event["data"] for event in events] == [{"balance": 899_999, "threshold": 900_000}]
    assert events[0]["type"] == "balance.low"
    assert list(events[0]) == ["id", "type", "created_at", "data"]
    fail(crossing["id"])  # a refund back to 899,999: still below
    adjust_balance(seller_id=seller.pk, amount=2, reason="rearm", created_by=staff_user)  # -> 900,000: re-armed
    adjust_balance(seller_id=seller.pk, amount=-2, reason="cross again", created_by=staff_user)
    assert [event["data"]["balance"] for event in low_events(seller)] == [899_999, 899_999]
    fund(seller, 10, staff_user)
    sell_recharge_batch(seller_id=seller.pk, items=[(MCI, 5), (IRANCELL, 5)])  # one debit, one crossing
    assert [event["data"]["balance"] for event in low_events(seller)] == [899_999, 899_999, 899_999]
    assert_books(seller)


def test_balance_low_needs_a_threshold_and_a_callback_url(seller):
    sold(seller, amount=999_000)
    assert low_events(seller) == []
    Seller.objects.filter(pk=seller.pk).update(low_balance_threshold=500)
    sold(seller, amount=600)  # crosses, but no callback URL
    assert CallbackEvent.objects.count() == 0
