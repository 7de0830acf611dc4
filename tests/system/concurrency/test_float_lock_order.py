"""Hostile review of the float's place in the delivery lock order (issue 24).

recharges/delivery.py says: recharges, then sellers, then the tracked
floats, then the callback events. But a success with no commission locks no
seller before its draw: it takes the float, and only then the seller (FOR
KEY SHARE, for its callback events), while a failure takes the seller FOR
UPDATE (its refund, ledger/services.py `_post`) and then the float (the
released reservation). Two transactions, one of each for the same seller
and operator, wait in a cycle.

The interleaving is made on purpose, as tests/system/concurrency/
test_delivery_outcomes.py makes its own: staff hold the seller (as a credit
approval does) while the failure arrives, then the success, each started
once the previous one waits on a lock; then staff commit."""

import json
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from callbacks.services import set_callback_url
from recharges.delivery import Outcome, record_outcomes
from recharges.floats import record_prepayment
from recharges.models import OperatorFloat, Recharge
from recharges.services import sell_recharge
from sellers.models import Seller
from tests.system.concurrency.test_delivery_outcomes import WAIT_SECONDS, backend_state, deadlocks, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

AMOUNT = 5_000


def record(outcomes: list[Outcome], pids: list[int], ready: threading.Event) -> str | None:
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


def test_a_refund_and_a_success_of_one_seller_on_a_tracked_float_never_deadlock(make_seller, staff_user):
    seller = make_seller(balance=1_000_000)
    set_callback_url(seller_id=seller.pk, url="https://shop.example/hooks")
    record_prepayment(operator="mci", amount=100_000, bank_reference="SATNA-D1", created_by=staff_user)
    failed, succeeded = (
        json.loads(sell_recharge(seller_id=seller.pk, phone_number=f"+98912123100{i}", amount=AMOUNT).body)["id"]
        for i in (1, 2)
    )
    batches = [
        [Outcome(failed, Recharge.Status.FAILED, failure_code=Recharge.Failure.OPERATOR_DECLINED)],
        [Outcome(succeeded, Recharge.Status.SUCCESSFUL, operator_reference="OP-D2")],
    ]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")
    before = deadlocks()

    pids: list[int] = []
    futures: list[Future] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        with transaction.atomic():
            list(Seller.objects.select_for_update().filter(pk=seller.pk))
            for batch in batches:
                ready = threading.Event()
                futures.append(pool.submit(record, batch, pids, ready))
                assert ready.wait(WAIT_SECONDS)
                pid, future = pids[-1], futures[-1]
                wait_until(
                    lambda pid=pid, future=future: future.done() or backend_state(pid) == ("Lock", "active"),
                    f"worker {pid} to wait on a lock",
                )
        errors = [future.result(timeout=WAIT_SECONDS * 4) for future in futures]

    assert [error for error in errors if error] == [], "\n".join(error for error in errors if error)
    assert deadlocks() == before
    assert dict(Recharge.objects.filter(pk__in=[failed, succeeded]).values_list("pk", "status")) == {
        failed: "failed",
        succeeded: "successful",
    }
    account = OperatorFloat.objects.get(pk="mci")
    assert (account.balance, account.pending) == (100_000 - AMOUNT, 0)
