"""One Idempotency-Key sent by many terminals at once through the HTTP fast
path (`_fast_sale`, one statement per sale): the first to commit sells, every
other request loses the race on the key's unique index and falls back to the
DRF path, which replays the first response."""

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from recharges.models import Recharge
from sellers.services import issue_api_token
from tests.helpers.api import API, post, recharge_body
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.workers import current_database_url

pytestmark = pytest.mark.django_db(transaction=True)

TERMINALS = 8


def wait_until_blocked(monitor, count: int, timeout: float = 30) -> None:
    """Polls until `count` other sessions wait on a lock (a start gate, not a sleep that hides a race)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        blocked = monitor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if blocked >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"only {blocked} of {count} sales reached the seller's lock")


def test_one_key_from_many_terminals_sells_once_and_replays_for_the_rest(make_seller):
    seller = make_seller(balance=100_000)
    token = issue_api_token(user=seller.user)
    url = current_database_url()

    def sell(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            response = post(client, f"{API}/recharges/", recharge_body(amount=10_000), key="pos-3-receipt-9")
            return response.status_code, response.json(), response.get("Idempotent-Replayed")
        finally:
            connection.close()

    # Hold the seller's row so that every sale passes the key check (none stored
    # yet) and then queues on the row; released, they commit one after another.
    with psycopg.connect(url, autocommit=True) as monitor, psycopg.connect(url) as holder:
        holder.execute("SELECT 1 FROM sellers_seller WHERE id = %s FOR UPDATE", [seller.pk])
        with ThreadPoolExecutor(TERMINALS) as pool:
            futures = [pool.submit(sell, i) for i in range(TERMINALS)]
            wait_until_blocked(monitor, TERMINALS)
            holder.commit()
            results = [future.result(timeout=60) for future in futures]

    assert [status for status, _, _ in results] == [201] * TERMINALS
    assert len({str(body) for _, body, _ in results}) == 1
    assert sorted(replayed or "" for _, _, replayed in results) == [""] + ["true"] * (TERMINALS - 1)
    assert Recharge.objects.filter(seller=seller).count() == 1
    assert balance_of(seller.pk) == 90_000
    assert_books_balance(seller.pk)
