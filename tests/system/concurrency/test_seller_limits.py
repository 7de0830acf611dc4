"""The seller limits under contention (contract v1.2): 200 sales at once from
4 processes x 5 threads, each with its own connection, through the services.
A limit is judged under the seller's row lock, on the row as the previous
sale left it, so exactly what it allows is sold, never one more or less,
and every refusal is a 403 limit_exceeded that wrote nothing."""

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from ledger.models import LedgerEntry
from recharges.delivery import call_operator, claim_due, record_outcomes
from recharges.models import Recharge, RechargeBatch
from sellers.models import Seller
from tests.helpers.books import assert_books_balance
from tests.helpers.simulator import SimulatorProcess
from tests.system.concurrency.limit_workers import sell_from_processes, spread

pytestmark = pytest.mark.django_db(transaction=True)

START = 100_000_000
AMOUNT = 20_000
ALLOWED = 50  # sales each limit allows
PROCESSES, THREADS = 4, 5
NUMBER = "+989121110000"


def phone(index: int) -> str:
    return f"+98912{index:07d}"


def business_today():
    with connection.cursor() as cursor:
        cursor.execute("SELECT business_day(now(), %s)", [settings.BUSINESS_TIME_ZONE])
        return cursor.fetchone()[0]


def limited(make_seller, **limits) -> Seller:
    seller = make_seller(balance=START)
    Seller.objects.filter(pk=seller.pk).update(**limits)
    return seller


def assert_sold_exactly(seller: Seller, answers: list[dict], *, units: int, limit: str) -> None:
    """`units` recharges of AMOUNT sold and debited once each; every other
    sale a 403 for `limit` that wrote nothing; the books exact."""
    sold = [answer for answer in answers if answer["status"] == 201]
    refused = [answer for answer in answers if answer["status"] != 201]
    assert {(answer["status"], answer["code"], answer["limit"]) for answer in refused} == {
        (403, "limit_exceeded", limit)
    }
    assert sum(answer["count"] for answer in sold) == units
    recharge_ids = sorted(i for answer in sold for i in answer["recharge_ids"])
    assert sorted(Recharge.objects.filter(seller=seller).values_list("id", flat=True)) == recharge_ids
    assert RechargeBatch.objects.filter(seller=seller).count() == sum(answer["batch"] for answer in sold)
    debits = LedgerEntry.objects.filter(seller=seller, kind="recharge")
    assert sorted(debits.values_list("recharge_id", flat=True)) == recharge_ids
    assert debits.aggregate(total=Sum("amount"))["total"] == -units * AMOUNT
    seller.refresh_from_db()
    assert seller.balance == START - units * AMOUNT
    assert_books_balance(seller.pk)


def test_daily_amount_allowing_50_sales_sells_exactly_50_of_200_at_once(make_seller):
    seller = limited(make_seller, daily_amount=ALLOWED * AMOUNT)
    sales = [(phone(i), AMOUNT) for i in range(200)]

    answers = sell_from_processes(seller.pk, spread(sales, PROCESSES, THREADS))

    assert sorted(answer["status"] for answer in answers) == [201] * 50 + [403] * 150
    assert_sold_exactly(seller, answers, units=ALLOWED, limit="daily_amount")
    assert (seller.daily_amount_used, seller.daily_amount_day) == (ALLOWED * AMOUNT, business_today())


def test_number_hourly_count_allowing_50_sales_sells_exactly_50_of_200_to_one_number(make_seller):
    seller = limited(make_seller, number_hourly_count=ALLOWED)
    sales = [(NUMBER, AMOUNT)] * 200

    answers = sell_from_processes(seller.pk, spread(sales, PROCESSES, THREADS))

    assert sorted(answer["status"] for answer in answers) == [201] * 50 + [403] * 150
    assert_sold_exactly(seller, answers, units=ALLOWED, limit="number_hourly_count")
    assert Recharge.objects.filter(seller=seller, phone_number__e164=NUMBER).count() == ALLOWED


@pytest.mark.parametrize("limit", ["daily_amount", "number_hourly_count"])
def test_batches_mixed_in_share_the_limit_exactly(make_seller, limit):
    """160 single sales and 40 batches of 3, all at once: 320 recharges asked,
    50 allowed. A batch is all or nothing; once the limit has less than a
    batch left, the singles still fill it, so it ends exactly full."""
    if limit == "daily_amount":
        seller = limited(make_seller, daily_amount=ALLOWED * AMOUNT)
        singles = [(phone(i), AMOUNT) for i in range(160)]
        batches = [[(phone(1000 + 3 * b + k), AMOUNT) for k in range(3)] for b in range(40)]
    else:
        seller = limited(make_seller, number_hourly_count=ALLOWED)
        singles = [(NUMBER, AMOUNT)] * 160
        batches = [[(NUMBER, AMOUNT)] * 3 for _ in range(40)]
    sales: list = []
    for b, batch in enumerate(batches):  # one batch after every four singles
        sales += [*singles[4 * b : 4 * b + 4], batch]

    answers = sell_from_processes(seller.pk, spread(sales, PROCESSES, THREADS))

    assert len(answers) == 200
    assert any(a["status"] == 403 and not a["batch"] for a in answers), "the limit was never reached by a single"
    assert_sold_exactly(seller, answers, units=ALLOWED, limit=limit)
    for batch_id in RechargeBatch.objects.filter(seller=seller).values_list("id", flat=True):
        assert Recharge.objects.filter(batch_id=batch_id).count() == 3
    if limit == "daily_amount":
        assert seller.daily_amount_used == ALLOWED * AMOUNT
    else:
        assert Recharge.objects.filter(seller=seller, phone_number__e164=NUMBER).count() == ALLOWED


@pytest.fixture
def gateway(tmp_path):
    simulator = SimulatorProcess(tmp_path / "sim.sqlite3")
    simulator.start()
    gateway = simulator.gateway()
    yield gateway
    gateway.close()
    simulator.stop()


def deliver_due(gateway) -> None:
    """One pass of the worker's cycle: every sale here is answered at once."""
    while claims := claim_due(limit=100, lease_seconds=30):
        record_outcomes([call_operator(gateway, claim) for claim in claims])


def test_a_failed_recharge_frees_its_amount_for_exactly_as_many_sales(make_seller, gateway):
    """The day's 50 are sold, 10 of them to a number the operator declines;
    their refunds give the 10 back, and 200 sales at once sell exactly 10 more."""
    seller = limited(make_seller, daily_amount=ALLOWED * AMOUNT)
    first = [(phone(i) if i >= 10 else f"+98912{i:03d}9990", AMOUNT) for i in range(ALLOWED)]
    answers = sell_from_processes(seller.pk, spread(first, PROCESSES, THREADS))
    assert [answer["status"] for answer in answers] == [201] * ALLOWED
    seller.refresh_from_db()
    assert seller.daily_amount_used == ALLOWED * AMOUNT

    deliver_due(gateway)

    assert Recharge.objects.filter(seller=seller, status="failed", failure_code="operator_declined").count() == 10
    assert Recharge.objects.filter(seller=seller, status="successful").count() == 40
    refunds = LedgerEntry.objects.filter(seller=seller, kind="refund")
    assert sorted(refunds.values_list("amount", flat=True)) == [AMOUNT] * 10
    seller.refresh_from_db()
    assert (seller.daily_amount_used, seller.balance) == (40 * AMOUNT, START - 40 * AMOUNT)

    again = [(phone(1000 + i), AMOUNT) for i in range(200)]
    answers = sell_from_processes(seller.pk, spread(again, PROCESSES, THREADS))

    assert sorted(answer["status"] for answer in answers) == [201] * 10 + [403] * 190
    assert {answer["limit"] for answer in answers if answer["status"] == 403} == {"daily_amount"}
    seller.refresh_from_db()
    assert (seller.daily_amount_used, seller.balance) == (ALLOWED * AMOUNT, START - ALLOWED * AMOUNT)
    assert Recharge.objects.filter(seller=seller).exclude(status="failed").count() == ALLOWED
    assert_books_balance(seller.pk)
