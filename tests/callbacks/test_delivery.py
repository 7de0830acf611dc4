"""Delivery against real HTTP receivers on real sockets: signatures checked
independently, retries, slow and refused targets, the horizon, and two
concurrent deliverers. Every test commits (transaction=True), as a worker does."""

import hashlib
import hmac
import json
import re
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from callbacks import tasks
from callbacks.models import CallbackEndpoint, CallbackEvent
from callbacks.sender import deliver_due_events, retry_delay, seconds_until_next_due
from callbacks.services import delete_callback, record_event, set_callback_url
from tests.callbacks.receiver import Receiver, wait_for_next_second
from tests.helpers.workers import current_database_url

pytestmark = pytest.mark.django_db(transaction=True)

RECHARGE = {
    "id": 42,
    "phone_number": "+989121234567",
    "amount": 5000,
    "balance_after": 995000,
    "created_at": "2026-11-30T10:00:00.123456Z",
    "operator": "mci",
    "status": "successful",
    "operator_reference": "MCI-7",
    "failure": None,
    "completed_at": "2026-11-30T10:00:00.223456Z",
}
API_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def record(seller, data=RECHARGE, event_type="recharge.succeeded") -> CallbackEvent:
    with transaction.atomic():
        record_event(seller_id=seller.pk, event_type=event_type, data=data)
    return CallbackEvent.objects.filter(seller=seller).latest("created_at")


def make_due(event: CallbackEvent) -> None:
    """As if the retry delay had passed."""
    CallbackEvent.objects.filter(pk=event.pk).update(next_attempt_at=Now())


def expected_signature(secret: str, t: str, body: bytes) -> str:
    """Recomputed here from the contract, independently of callbacks.signatures."""
    return hmac.new(secret.encode("ascii"), t.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_parts(request) -> tuple[str, str]:
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", request.headers["recharge-signature"])
    assert match, request.headers
    return match.group(1), match.group(2)


@pytest.fixture
def seller(make_seller):
    return make_seller()


def test_an_event_arrives_signed_with_the_contract_body(seller):
    with Receiver() as receiver:
        _, secret = set_callback_url(seller_id=seller.pk, url=receiver.url())
        event = record(seller)
        before = int(time.time())
        assert deliver_due_events() == 1
        after = int(time.time())

    [request] = receiver.received
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.body == event.body.encode("utf-8")
    t, v1 = signature_parts(request)
    assert before <= int(t) <= after
    assert v1 == expected_signature(secret, t, request.body)
    body = json.loads(request.body)
    assert list(body) == ["id", "type", "created_at", "data"]
    assert body["id"] == str(event.id)
    assert body["type"] == "recharge.succeeded"
    assert API_TIME.fullmatch(body["created_at"])
    assert body["data"] == RECHARGE
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("delivered", 1, "")
    assert deliver_due_events() == 0


def test_the_body_is_rendered_once_in_the_api_time_format(seller):
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/")
    event = record(seller, event_type="recharge.failed")
    body = json.loads(event.body)
    assert body["created_at"] == event.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert body["type"] == event.type == "recharge.failed"


def test_a_seller_without_a_url_gets_no_event_in_one_statement(seller, django_assert_num_queries):
    with django_assert_num_queries(1):
        record_event(seller_id=seller.pk, event_type="recharge.succeeded", data=RECHARGE)
    assert CallbackEvent.objects.count() == 0


def test_an_event_rolls_back_with_its_transaction(seller):
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        record_event(seller_id=seller.pk, event_type="recharge.succeeded", data=RECHARGE)
        raise ZeroDivisionError("the rest of the transaction failed")
    assert CallbackEvent.objects.count() == 0


@pytest.fixture
def no_waiting_jobs(db):
    """procrastinate's tables are not Django's to flush: jobs committed by other tests may wait there."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")


def _waiting_jobs(task: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND status = 'todo'", [task])
        return cursor.fetchone()[0]


def test_a_committed_event_wakes_the_callbacks_queue_once(seller, no_waiting_jobs):
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/")
    with psycopg.connect(current_database_url(), autocommit=True) as listener:
        listener.execute('LISTEN "procrastinate_queue_v1#callbacks"')
        with transaction.atomic():
            for _ in range(3):
                record_event(seller_id=seller.pk, event_type="recharge.succeeded", data=RECHARGE)
            assert _waiting_jobs("deliver_callbacks") == 1  # one job to look, however many events
            assert list(listener.notifies(timeout=0.5)) == []  # not before the commit
        [notify] = list(listener.notifies(timeout=5, stop_after=1))
    assert json.loads(notify.payload)["type"] == "job_inserted"
    assert CallbackEvent.objects.count() == 3


def test_an_event_for_a_seller_without_url_queues_nothing(seller, no_waiting_jobs):
    record_event(seller_id=seller.pk, event_type="recharge.succeeded", data=RECHARGE)
    assert CallbackEvent.objects.count() == 0
    assert _waiting_jobs("deliver_callbacks") == 0


def test_an_unknown_event_type_is_refused(seller):
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/")
    with pytest.raises(ValueError):
        record_event(seller_id=seller.pk, event_type="recharge.exploded", data=RECHARGE)


def test_failures_are_retried_with_the_same_bytes_and_a_new_signature(seller):
    with Receiver(answers={"/hook": [500, 503, 200]}) as receiver:
        _, secret = set_callback_url(seller_id=seller.pk, url=receiver.url())
        event = record(seller)

        assert deliver_due_events() == 1
        event.refresh_from_db()
        assert (event.status, event.attempts, event.last_error) == ("pending", 1, "HTTP 500")
        first_wait = (event.next_attempt_at - timezone.now()).total_seconds()
        assert 3 < first_wait <= 5  # the first retry within 10 s
        assert deliver_due_events() == 0  # not due yet

        make_due(event)
        wait_for_next_second()
        assert deliver_due_events() == 1
        event.refresh_from_db()
        assert (event.status, event.attempts, event.last_error) == ("pending", 2, "HTTP 503")
        assert 7 < (event.next_attempt_at - timezone.now()).total_seconds() <= 10

        make_due(event)
        wait_for_next_second()
        assert deliver_due_events() == 1
        event.refresh_from_db()
        assert (event.status, event.attempts) == ("delivered", 3)
        make_due(event)
        assert deliver_due_events() == 0  # acknowledged: never sent again

    assert len(receiver.received) == 3
    assert {request.body for request in receiver.received} == {event.body.encode("utf-8")}
    stamps = [signature_parts(request)[0] for request in receiver.received]
    assert stamps == sorted(set(stamps))  # a new t on every attempt
    for request in receiver.received:
        t, v1 = signature_parts(request)
        assert v1 == expected_signature(secret, t, request.body)


def test_backoff_doubles_to_an_hour():
    for attempts, ceiling in [(1, 5), (2, 10), (3, 20), (4, 40), (10, 2560), (11, 3600), (500, 3600)]:
        delays = [retry_delay(attempts) for _ in range(50)]
        assert all(0.8 * ceiling <= delay <= ceiling for delay in delays), (attempts, delays)


def test_a_slow_receiver_does_not_hold_up_other_events(make_seller, settings):
    settings.CALLBACK_TIMEOUT_SECONDS = 3
    slow_seller, fast_seller = make_seller(), make_seller()
    with Receiver(delays={"/slow": 6}) as receiver:
        set_callback_url(seller_id=slow_seller.pk, url=receiver.url("/slow"))
        set_callback_url(seller_id=fast_seller.pk, url=receiver.url("/fast"))
        slow = record(slow_seller)
        fast = [record(fast_seller) for _ in range(3)]

        started = time.monotonic()
        deliverer = threading.Thread(target=_deliver_and_close)
        deliverer.start()
        while CallbackEvent.objects.filter(pk__in=[e.pk for e in fast], delivered_at__isnull=False).count() < 3:
            assert time.monotonic() - started < 3, "the fast events waited for the slow receiver"
            time.sleep(0.05)
        slow.refresh_from_db()
        assert (slow.attempts, slow.last_error, slow.delivered_at) == (1, "", None)  # still in flight
        deliverer.join()

    slow.refresh_from_db()
    assert (slow.status, slow.attempts, slow.last_error) == ("pending", 1, "No answer within 3 s.")


def test_events_that_fall_due_during_a_slow_attempt_go_out_at_once(make_seller, settings):
    settings.CALLBACK_TIMEOUT_SECONDS = 3
    slow_seller, fast_seller = make_seller(), make_seller()
    with Receiver(delays={"/slow": 6}) as receiver:
        set_callback_url(seller_id=slow_seller.pk, url=receiver.url("/slow"))
        set_callback_url(seller_id=fast_seller.pk, url=receiver.url("/fast"))
        slow = [record(slow_seller) for _ in range(10)]
        deliverer = threading.Thread(target=_deliver_and_close, kwargs={"max_workers": 4, "per_seller": 3, "limit": 7})
        deliverer.start()
        while len(receiver.received) < 3:  # the slow seller gets 3 of the 4 threads
            time.sleep(0.02)
        started = time.monotonic()
        fast = record(fast_seller)  # falls due while every slow attempt hangs
        while not CallbackEvent.objects.filter(pk=fast.pk, delivered_at__isnull=False).exists():
            assert time.monotonic() - started < 2.5, "the new event waited for the slow receiver"
            time.sleep(0.05)
        assert [r.path for r in receiver.received].count("/slow") == 3
        deliverer.join()

    # 7 attempts: 3 slow ones, the fast one, 3 slow ones when the first timed out.
    attempts = CallbackEvent.objects.filter(pk__in=[e.pk for e in slow]).values_list("attempts", "last_error")
    assert sorted(attempts) == [(0, "")] * 4 + [(1, "No answer within 3 s.")] * 6


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline(seller, settings):
    """One header byte a second never lets a per-read timeout fire: the
    attempt's deadline covers connect, send and the whole status line and
    headers."""
    settings.CALLBACK_TIMEOUT_SECONDS = 2
    with Receiver(trickle={"/hook"}) as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url())
        event = record(seller)
        for attempt in (1, 2):
            deliverer = threading.Thread(target=_deliver_and_close, daemon=True)
            deliverer.start()
            deliverer.join(timeout=settings.CALLBACK_TIMEOUT_SECONDS + 3)
            ended = time.time()
            assert not deliverer.is_alive(), "the attempt outlived its deadline"
            assert len(receiver.received) == attempt
            assert 1.5 < ended - receiver.received[-1].at < 3.5  # cut at the deadline, not before
            event.refresh_from_db()
            assert (event.status, event.attempts, event.last_error) == ("pending", attempt, "No answer within 2 s.")
            if attempt == 1:
                assert 3 < (event.next_attempt_at - timezone.now()).total_seconds() <= 5  # retried per the schedule
                make_due(event)


def test_a_job_hands_over_to_the_next_without_waiting_for_a_slow_attempt(
    make_seller, settings, monkeypatch, no_waiting_jobs
):
    """The worker runs jobs one after another; a job that runs out of time
    while a slow attempt hangs returns at once, and the next records it."""
    settings.CALLBACK_TIMEOUT_SECONDS = 3
    monkeypatch.setattr(tasks, "DRAIN_SECONDS", 1)
    slow_seller, fast_seller = make_seller(), make_seller()
    with Receiver(trickle={"/slow"}) as receiver:
        set_callback_url(seller_id=slow_seller.pk, url=receiver.url("/slow"))
        set_callback_url(seller_id=fast_seller.pk, url=receiver.url("/fast"))
        slow = record(slow_seller)
        started = time.monotonic()
        tasks.deliver_callbacks()
        assert time.monotonic() - started < 2, "the job waited for the slow attempt"
        assert _waiting_jobs("deliver_callbacks") == 1  # the next job
        assert [r.path for r in receiver.received] == ["/slow"]

        fast = record(fast_seller)
        while CallbackEvent.objects.filter(pk=slow.pk, last_error="").exists():
            assert time.monotonic() - started < 10, "the slow attempt was never recorded"
            tasks.deliver_callbacks()  # as the worker runs the jobs that follow
        assert receiver.received[1].path == "/fast"
        assert receiver.received[1].at - fast.created_at.timestamp() < 1

    slow.refresh_from_db()
    assert (slow.status, slow.attempts, slow.last_error) == ("pending", 1, "No answer within 3 s.")
    fast.refresh_from_db()
    assert (fast.status, fast.attempts) == ("delivered", 1)


def _deliver_and_close(**kwargs):
    try:
        deliver_due_events(**kwargs)
    finally:
        connection.close()


def test_a_private_target_fails_the_attempt_at_delivery_time(seller, settings):
    with Receiver() as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url())  # allowed when it was set
        event = record(seller)
        settings.CALLBACK_ALLOW_PRIVATE_TARGETS = False
        assert deliver_due_events() == 1
    assert receiver.received == []
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("pending", 1)
    assert "non-public address (127.0.0.1)" in event.last_error


def test_an_event_past_the_horizon_is_abandoned_after_its_last_attempt(seller):
    with Receiver(answers={"/hook": [500]}) as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url())
        event = record(seller)
        CallbackEvent.objects.filter(pk=event.pk).update(created_at=F("created_at") - timedelta(hours=25))
        assert deliver_due_events() == 1
        event.refresh_from_db()
        assert (event.status, event.attempts, event.last_error) == ("abandoned", 1, "HTTP 500")
        make_due(event)
        assert deliver_due_events() == 0
    assert len(receiver.received) == 1
    assert CallbackEvent.objects.filter(pk=event.pk).exists()  # the row stays


def test_the_last_retry_is_at_the_horizon(seller):
    with Receiver(answers={"/hook": [500]}) as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url())
        event = record(seller)
        CallbackEvent.objects.filter(pk=event.pk).update(
            created_at=F("created_at") - timedelta(hours=24) + timedelta(seconds=2), attempts=20
        )
        assert deliver_due_events() == 1
    event.refresh_from_db()
    assert event.status == "pending"
    assert event.next_attempt_at == event.created_at + timedelta(hours=24)


def test_a_late_event_is_still_delivered_if_the_receiver_answers(seller):
    with Receiver() as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url())
        event = record(seller)
        CallbackEvent.objects.filter(pk=event.pk).update(created_at=F("created_at") - timedelta(hours=30))
        assert deliver_due_events() == 1
    event.refresh_from_db()
    assert event.status == "delivered"


def test_removing_the_url_abandons_undelivered_events(seller):
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/")
    pending = record(seller)
    delete_callback(seller_id=seller.pk)
    pending.refresh_from_db()
    assert (pending.status, pending.last_error) == ("abandoned", "The seller has no callback URL any more.")
    assert deliver_due_events() == 0


def test_an_event_whose_endpoint_vanished_is_abandoned_at_delivery(seller):
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/")
    event = record(seller)
    CallbackEndpoint.objects.filter(seller=seller).delete()  # behind the service's back
    assert deliver_due_events() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("abandoned", 1)


def test_a_new_url_and_secret_apply_to_the_next_attempt(seller):
    with Receiver(answers={"/old": [500], "/new": [200]}) as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url("/old"))
        event = record(seller)
        assert deliver_due_events() == 1
        _, secret = set_callback_url(seller_id=seller.pk, url=receiver.url("/new"))
        make_due(event)
        assert deliver_due_events() == 1
    old, new = receiver.received
    assert (old.path, new.path, old.body) == ("/old", "/new", new.body)
    t, v1 = signature_parts(new)
    assert v1 == expected_signature(secret, t, new.body)


def test_seconds_until_next_due(seller):
    assert seconds_until_next_due() is None
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/")
    event = record(seller)
    assert seconds_until_next_due() == 0
    CallbackEvent.objects.filter(pk=event.pk).update(next_attempt_at=Now() + timedelta(seconds=30))
    assert 29 < seconds_until_next_due() <= 30


def test_delivery_refuses_to_run_inside_a_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        deliver_due_events()


def test_two_concurrent_deliverers_send_each_event_once(make_seller):
    sellers = [make_seller() for _ in range(3)]
    with Receiver(delays={f"/{s.pk}": 0.02 for s in sellers}) as receiver:
        for s in sellers:
            set_callback_url(seller_id=s.pk, url=receiver.url(f"/{s.pk}"))
        events = [record(s) for s in sellers for _ in range(40)]

        start = threading.Barrier(2)
        made = [0, 0]

        def deliverer(index):
            try:
                start.wait()
                while attempts := deliver_due_events(limit=10, max_workers=4):
                    made[index] += attempts
            finally:
                connection.close()

        threads = [threading.Thread(target=deliverer, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sum(made) == len(events) == 120
    ids = [json.loads(request.body)["id"] for request in receiver.received]
    assert sorted(ids) == sorted(str(e.pk) for e in events)  # each exactly once
    assert set(CallbackEvent.objects.values_list("attempts", flat=True)) == {1}
    assert CallbackEvent.objects.filter(delivered_at__isnull=False).count() == 120
