"""An adjustment inserts its row before it locks the seller (ledger/services.py).
That is safe only because the row's foreign key to the seller is DEFERRABLE
INITIALLY DEFERRED: the key check, and the FOR KEY SHARE lock it takes on the
seller, wait until commit, when the transaction holds the seller's row lock
already. These tests keep that property deliberate: the catalog says so, two
connections show the lock that an immediate key would take, and many threads
adjusting one seller finish with no deadlock and exact sums."""

import psycopg
import pytest
from django.db import connection

from ledger.models import BalanceAdjustment, LedgerEntry
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.workers import current_database_url, outcomes, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
ADJUSTMENTS_PER_THREAD = 25
LOCK_TIMEOUT = "2s"  # bounds the wait the immediate key causes; not a sleep

INSERT_ADJUSTMENT = """
    INSERT INTO ledger_balanceadjustment (seller_id, amount, reason, created_by_id, created_at)
    VALUES (%s, 100, 'deferred key test', %s, now())
"""
LOCK_SELLER = "SELECT id FROM sellers_seller WHERE id = %s FOR UPDATE"


def test_every_foreign_key_to_the_seller_is_checked_at_commit():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT conrelid::regclass::text, condeferrable, condeferred
              FROM pg_constraint
             WHERE contype = 'f' AND confrelid = 'sellers_seller'::regclass
            """
        )
        keys = cursor.fetchall()
    assert "ledger_balanceadjustment" in {table for table, _, _ in keys}
    assert [(table, True, True) for table, _, _ in keys] == keys


def test_an_adjustment_row_locks_its_seller_only_at_commit(make_seller, staff_user):
    """Two uncommitted adjustment rows of one seller; the first transaction
    then locks the seller as _post does. With the deferred key nothing is in
    its way; with the key made immediate, the other row's FOR KEY SHARE is,
    which between two adjustments is a deadlock."""
    seller = make_seller(balance=1_000)
    options = f"-c lock_timeout={LOCK_TIMEOUT}"
    with (
        psycopg.connect(current_database_url(), options=options) as first,
        psycopg.connect(current_database_url(), options=options) as second,
    ):
        second.execute(INSERT_ADJUSTMENT, [seller.pk, staff_user.pk])
        first.execute(INSERT_ADJUSTMENT, [seller.pk, staff_user.pk])
        assert first.execute(LOCK_SELLER, [seller.pk]).fetchone() == (seller.pk,)
        first.rollback()
        second.rollback()

        second.execute("SET CONSTRAINTS ALL IMMEDIATE")
        second.execute(INSERT_ADJUSTMENT, [seller.pk, staff_user.pk])
        first.execute(INSERT_ADJUSTMENT, [seller.pk, staff_user.pk])
        with pytest.raises(psycopg.errors.LockNotAvailable):
            first.execute(LOCK_SELLER, [seller.pk])
        first.rollback()
        second.rollback()
    assert BalanceAdjustment.objects.count() == 0


def test_threads_adjusting_one_seller_at_once_never_deadlock(make_seller, staff_user):
    """Every thread inserts adjustment rows before the seller lock, all on one
    seller at the same moment: each one must queue on the row lock. A deadlock
    would raise in its worker, and outcomes() fails on any raise."""
    start = 10_000_000
    seller = make_seller(balance=start)
    amounts = [-3_000, 1_000] * (ADJUSTMENTS_PER_THREAD // 2) + [-3_000] * (ADJUSTMENTS_PER_THREAD % 2)
    calls = [("adjust", {"seller_id": seller.pk, "amounts": amounts, "staff_id": staff_user.pk})] * THREADS

    answers = outcomes(run_in_threads(calls))

    assert [answer["status"] for answer in answers] == [201] * (THREADS * ADJUSTMENTS_PER_THREAD)
    assert balance_of(seller.pk) == start + THREADS * sum(amounts)
    assert BalanceAdjustment.objects.filter(seller=seller).count() == THREADS * ADJUSTMENTS_PER_THREAD
    assert LedgerEntry.objects.filter(seller=seller, kind=LedgerEntry.Kind.ADJUSTMENT).count() == THREADS * len(amounts)
    assert_books_balance(seller.pk)
