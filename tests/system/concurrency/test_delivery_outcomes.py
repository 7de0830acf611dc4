"""Delivery workers recording outcomes for the same sellers at once: every
transaction takes its locks in one order (recharges, then sellers, then the
callback events and the job that wakes the sender; recharges/delivery.py),
so none waits in a cycle, whatever the interleaving.

The interleaving that deadlocked is made on purpose: a staff transaction
holds the sellers' rows while the workers arrive one after another, each
started once the previous one waits on a lock, so they queue in a known
order; then it commits. Before the lock order, a success batch had queued
the sender's job and waited at commit for its events' FOR KEY SHARE on a
seller whose refund, holding that seller, waited for the same job."""

import json
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from callbacks.models import CallbackEvent
from callbacks.services import set_callback_url
from ledger.models import LedgerEntry
from recharges.delivery import Outcome, record_outcomes
from recharges.models import Recharge
from recharges.services import sell_recharge
from sellers.models import Seller
from tests.helpers.books import assert_books_balance, balance_of

pytestmark = pytest.mark.django_db(transaction=True)

START = 10_000_000
AMOUNT = 5_000
WAIT_SECONDS = 30  # bounds each wait for a condition; not a sleep that orders anything


def deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def backend_state(pid: int) -> tuple[str, str] | None:
    """(wait_event_type, state) of a backend, None once it has exited."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction reads one snapshot
        cursor.execute("SELECT coalesce(wait_event_type, ''), state FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.005)


def record(outcomes: list[Outcome], pids: list[int], ready: threading.Event) -> str | None:
    """One worker: records `outcomes` on its own connection; returns the error, if any."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.append(cursor.fetchone()[0])
        ready.set()
        record_outcomes(outcomes)
        return None
    except Exception:  # noqa: BLE001 - reported to the test, which fails on it
        return traceback.format_exc()
    finally:
        connection.close()


def sell(seller: Seller, index: int) -> int:
    result = sell_recharge(seller_id=seller.pk, phone_number=f"+98912{seller.pk % 1000:03d}{index:04d}", amount=AMOUNT)
    assert result.status_code == 201
    return json.loads(result.body)["id"]


def test_workers_recording_successes_and_refunds_of_the_same_sellers_never_deadlock(make_seller):
    sellers = [make_seller(balance=START) for _ in range(3)]
    for seller in sellers:
        set_callback_url(seller_id=seller.pk, url="https://shop.example/hooks")
    first, second, third = sellers

    def success(seller, index):
        return Outcome(sell(seller, index), Recharge.Status.SUCCESSFUL, operator_reference=f"OP-{seller.pk}-{index}")

    def failure(seller, index):
        return Outcome(sell(seller, index), Recharge.Status.FAILED, failure_code=Recharge.Failure.OPERATOR_DECLINED)

    # What each worker's batch brought back, mixed across the sellers; the
    # first worker only refunds, so it is the first to hold a seller.
    batches = [
        [failure(first, 1), failure(second, 2), failure(third, 3)],
        [success(third, 4), success(first, 5), success(second, 6), failure(first, 7)],
        [failure(second, 8), success(second, 9), success(first, 10), failure(third, 11)],
        [success(first, 12), failure(third, 13), success(third, 14), failure(second, 15)],
        [failure(first, 16), success(second, 17), failure(second, 18), success(third, 19)],
    ]
    outcomes = [outcome for batch in batches for outcome in batch]
    with connection.cursor() as cursor:
        # No sender job waits yet: the first event's transaction queues one.
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")
    before = deadlocks()

    pids: list[int] = []
    futures: list[Future] = []
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        with transaction.atomic():
            # Staff hold the sellers (as a credit or an adjustment does) while the workers arrive.
            list(Seller.objects.select_for_update().filter(pk__in=[s.pk for s in sellers]).order_by("pk"))
            for batch in batches:
                ready = threading.Event()
                futures.append(pool.submit(record, batch, pids, ready))
                assert ready.wait(WAIT_SECONDS)
                pid = pids[-1]
                future = futures[-1]
                wait_until(
                    lambda pid=pid, future=future: future.done() or backend_state(pid) == ("Lock", "active"),
                    f"worker {pid} to wait on a lock",
                )
        errors = [future.result(timeout=WAIT_SECONDS * 4) for future in futures]

    assert [error for error in errors if error] == [], "\n".join(error for error in errors if error)
    wait_until(lambda: all(backend_state(pid) is None for pid in pids), "the workers' connections to close")
    assert deadlocks() == before
    ends = dict(Recharge.objects.filter(pk__in=[o.recharge_id for o in outcomes]).values_list("pk", "status"))
    assert ends == {outcome.recharge_id: outcome.status for outcome in outcomes}
    for seller in sellers:
        succeeded = Recharge.objects.filter(seller=seller, status="successful").count()
        assert balance_of(seller.pk) == START - succeeded * AMOUNT
        assert LedgerEntry.objects.filter(seller=seller, kind="refund").count() == (
            Recharge.objects.filter(seller=seller, status="failed").count()
        )
    assert_books_balance(*[seller.pk for seller in sellers])
    # One event per final status, each carrying it.
    assert sorted(CallbackEvent.objects.values_list("type", flat=True)) == sorted(
        "recharge.succeeded" if outcome.status == "successful" else "recharge.failed" for outcome in outcomes
    )
