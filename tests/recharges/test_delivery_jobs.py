"""The delivery job (recharges/tasks.py) in procrastinate's queue: what wakes
it (the sale statement itself), and what it leaves behind (a job scheduled
for the next status query)."""

import pytest
import structlog
from django.db import connection, transaction

from recharges import tasks
from recharges.models import Recharge
from recharges.services import sell_recharge, sell_recharge_batch
from tests.helpers.simulator import SimulatorProcess


@pytest.fixture
def no_waiting_jobs(db):
    """procrastinate's tables are not Django's to flush: jobs committed by other tests may wait there."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")


def waiting_jobs() -> list[tuple]:
    """The delivery jobs waiting: (queueing lock, scheduled at), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT queueing_lock, scheduled_at FROM procrastinate_jobs"
            " WHERE task_name = 'deliver_recharges' AND queue_name = 'delivery' AND status = 'todo' ORDER BY id"
        )
        return cursor.fetchall()


def sell(seller, last_four: str, amount: int = 5_000):
    return sell_recharge(seller_id=seller.pk, phone_number=f"+98912123{last_four}", amount=amount)


def test_sales_queue_one_delivery_job_however_many(make_seller, no_waiting_jobs):
    seller = make_seller(balance=1_000_000)
    assert waiting_jobs() == []
    for suffix in ("0000", "1111", "2222"):
        assert sell(seller, suffix).status_code == 201
    assert waiting_jobs() == [("deliver_recharges", None)]


def test_a_batch_queues_the_job_in_its_statement(make_seller, no_waiting_jobs):
    seller = make_seller(balance=1_000_000)
    items = [(f"+9891212300{i:02d}", 5_000) for i in range(5)]
    assert sell_recharge_batch(seller_id=seller.pk, items=items).status_code == 201
    assert waiting_jobs() == [("deliver_recharges", None)]


def test_a_sale_rolled_back_queues_nothing(make_seller, no_waiting_jobs):
    seller = make_seller(balance=1_000_000)
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        assert sell(seller, "0000").status_code == 201
        assert len(waiting_jobs()) == 1
        raise ZeroDivisionError("the rest of the transaction failed")
    assert waiting_jobs() == []
    assert Recharge.objects.count() == 0


@pytest.fixture
def sim_gateway(tmp_path, settings):
    simulator = SimulatorProcess(tmp_path / "sim.sqlite3", hang_seconds=3)
    simulator.start()
    settings.OPERATOR_GATEWAY_URL = simulator.base_url
    settings.OPERATOR_READ_TIMEOUT = 1.0
    settings.DELIVERY_MAX_BACKOFF_SECONDS = 1
    tasks._gateway.cache_clear()  # the process's gateway is made once, from the settings
    yield simulator
    tasks._gateway().close()
    tasks._gateway.cache_clear()
    simulator.stop()


@pytest.mark.django_db(transaction=True)
def test_the_job_delivers_what_is_due_and_schedules_the_status_query(make_seller, sim_gateway, no_waiting_jobs):
    seller = make_seller(balance=1_000_000)
    assert sell(seller, "0000").status_code == 201
    assert sell(seller, "9993").status_code == 201  # the operator answers 503 three times
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")  # the sales' own wake-up

    tasks.deliver_recharges()

    assert dict(Recharge.objects.values_list("phone_number__e164", "status")) == {
        "+989121230000": "successful",
        "+989121239993": "pending",
    }
    unknown = Recharge.objects.get(status="pending")
    assert unknown.topup_requested_at is not None
    # The next look is a job scheduled at the status query's due time, not a poll.
    assert waiting_jobs() == [(None, unknown.next_attempt_at)]
    references = sim_gateway.references()
    assert {reference: row["topup_requests"] for reference, row in references.items()} == {
        str(Recharge.objects.get(status="successful").topup_reference): 1,
        str(unknown.topup_reference): 1,
    }
    assert sim_gateway.stats()["charged_twice"] == 0


def test_a_refused_sale_queues_nothing(make_seller, no_waiting_jobs):
    seller = make_seller(balance=1_000)
    assert sell(seller, "0000", amount=5_000).status_code == 402
    assert waiting_jobs() == []


def test_the_job_a_sale_queues_carries_the_request_id(client_a, no_waiting_jobs):
    sale = client_a.post(
        "/api/v1/recharges/",
        {"phone_number": "09121234567", "amount": 5000},
        format="json",
        headers={"X-Request-ID": "till-7-sale-42"},
    )
    assert sale.status_code == 201
    assert sale["X-Request-ID"] == "till-7-sale-42"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT args::text FROM procrastinate_jobs WHERE task_name = 'deliver_recharges' AND status = 'todo'"
        )
        assert cursor.fetchall() == [('{"request_id": "till-7-sale-42"}',)]


def test_the_job_logs_under_the_request_id_that_queued_it(make_seller, sim_gateway):
    seller = make_seller(balance=1_000_000)
    assert sell(seller, "0000").status_code == 201
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        tasks.deliver_recharges(request_id="till-7-sale-43")
    assert Recharge.objects.get().status == "successful"
    assert [(line["event"], line["successful"], line["request_id"]) for line in lines] == [
        ("delivery_batch", 1, "till-7-sale-43")
    ]
    assert structlog.contextvars.get_contextvars() == {}  # unbound after the job
