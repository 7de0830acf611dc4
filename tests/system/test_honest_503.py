"""A 503 says whether the request may have been written (issue 10, item 1;
contract v1.1 "An honest 503").

Before, every 503 said "nothing was written", also when the connection was
lost while the commit was in flight: the write may have committed, and a
terminal without a key that trusted the message would sell twice. Here the
connection is killed at commit: a test-only deferred trigger sleeps at
commit (only for the magic amount) and another connection terminates the
sleeping backend. The trigger is created by the test and dropped after it.
"""

import threading

import pytest
from django.db import connection

from ledger.selectors import reconcile
from recharges.models import Recharge
from tests.helpers.api import API, post, recharge_body
from tests.helpers.sellers import client_for
from tests.helpers.system import raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MAGIC = 4321  # the amount whose commit the trigger holds up

SLEEP_AT_COMMIT = f"""
CREATE FUNCTION test_sleep_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(60);
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER test_sleep_at_commit AFTER INSERT ON ledger_ledgerentry
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (abs(NEW.amount) = {MAGIC})
EXECUTE FUNCTION test_sleep_at_commit();
"""
DROP = (
    "DROP TRIGGER IF EXISTS test_sleep_at_commit ON ledger_ledgerentry; DROP FUNCTION IF EXISTS test_sleep_at_commit();"
)


@pytest.fixture
def observer():
    with raw_connection(autocommit=True) as conn:
        conn.execute(SLEEP_AT_COMMIT)
        try:
            yield conn
        finally:
            conn.execute(DROP)


def terminate_backend_waiting_on(observer, wait_event: str) -> threading.Thread:
    """In a thread: waits for a backend of the test database to wait on
    `wait_event` (the trigger's sleep, or a lock), then terminates it."""

    def waiting() -> list:
        return observer.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = %s", [wait_event]
        ).fetchall()

    def kill():
        wait_for(lambda: len(waiting()) == 1, what=f"a backend waiting on {wait_event}")
        observer.execute("SELECT pg_terminate_backend(%s)", [waiting()[0][0]])

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def assert_503(response, outcome: str) -> str:
    connection.close()  # the test client's request ran on this thread's (now dead) connection
    assert response.status_code == 503, response.content
    assert response["Retry-After"]
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("service_unavailable", {"outcome": outcome})
    return error["message"]


def test_a_sale_whose_commit_was_cut_is_unknown_then_the_key_tells(observer, make_seller):
    seller = make_seller(balance=100_000)
    client = client_for(seller.user)
    killer = terminate_backend_waiting_on(observer, "PgSleep")
    cut = post(client, f"{API}/recharges/", recharge_body(amount=MAGIC), key="cut-1")
    killer.join()
    message = assert_503(cut, "unknown")
    assert "Idempotency-Key" in message and "?idempotency_key=" in message
    observer.execute(DROP)
    # What the message tells the terminal to do: look the key up, then retry with it.
    # Killed inside the commit's deferred trigger, this one did not commit.
    assert client.get(f"{API}/recharges/?idempotency_key=cut-1").json()["results"] == []
    retry = post(client, f"{API}/recharges/", recharge_body(amount=MAGIC), key="cut-1")
    assert (retry.status_code, retry.has_header("Idempotent-Replayed")) == (201, False), retry.content
    assert Recharge.objects.filter(seller=seller).count() == 1
    assert reconcile() == []


def test_an_adjustment_whose_commit_was_cut_is_unknown(observer, make_seller, staff_client):
    seller = make_seller(balance=100_000)
    killer = terminate_backend_waiting_on(observer, "PgSleep")
    cut = post(staff_client, f"{API}/sellers/{seller.pk}/adjustments/", {"amount": MAGIC, "reason": "cut"}, key="adj-1")
    killer.join()
    assert_503(cut, "unknown")
    assert reconcile() == []


def test_a_read_whose_connection_was_cut_wrote_nothing(observer, make_seller):
    seller = make_seller(balance=100_000)
    client = client_for(seller.user)
    with raw_connection() as locker:
        # The read waits for this lock on the token table; then its connection is cut.
        locker.execute("LOCK TABLE knox_authtoken IN ACCESS EXCLUSIVE MODE")
        killer = terminate_backend_waiting_on(observer, "relation")
        cut = client.get(f"{API}/me/")
        killer.join()
        locker.rollback()
    assert_503(cut, "not_written")


def test_a_lock_timeout_on_a_write_wrote_nothing(make_seller, staff_client):
    seller = make_seller(balance=100_000)
    with raw_connection() as locker:
        locker.execute("SELECT 1 FROM sellers_seller WHERE id = %s FOR UPDATE", [seller.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        response = post(
            staff_client, f"{API}/sellers/{seller.pk}/adjustments/", {"amount": 1000, "reason": "x"}, key="t-1"
        )
        locker.rollback()
    assert_503(response, "not_written")
