"""A large ledger in a few statements, for the report and export benchmarks
and the bounded-memory test.

The documented fast path of issue 13's "Speed" section: every entry still
passes the ledger's triggers (running balance, append-only) and constraints
(one source each), and the seller's balance and sequence are updated in the
same transaction, so the deferred balance-equals-ledger trigger checks the
result at commit. Each entry is a +`amount` adjustment (its source row is
inserted alongside) one `step` after the previous one.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from ledger.models import BalanceAdjustment, LedgerEntry
from sellers.models import Seller

_SQL = f"""
WITH seller AS (
    SELECT balance, ledger_sequence FROM {Seller._meta.db_table} WHERE id = %(seller)s FOR UPDATE
), adjustments AS (
    INSERT INTO {BalanceAdjustment._meta.db_table} (seller_id, amount, reason, created_by_id, created_at)
    SELECT %(seller)s, %(amount)s, 'seeded', %(user)s, %(start)s::timestamptz + (g - 1) * %(step)s::interval
      FROM generate_series(1, %(count)s) g
    RETURNING id, created_at
)
INSERT INTO {LedgerEntry._meta.db_table} (seller_id, sequence, kind, amount, balance_after, adjustment_id, created_at)
SELECT %(seller)s, s.ledger_sequence + row_number() OVER w, 'adjustment', %(amount)s,
       s.balance + %(amount)s * row_number() OVER w, a.id, a.created_at
  FROM adjustments a, seller s
WINDOW w AS (ORDER BY a.id)
 ORDER BY a.id
"""


def seed_ledger(
    *, seller_id: int, user_id: int, count: int, start: datetime, step: timedelta, amount: int = 1000
) -> None:
    """Appends `count` entries to the seller's ledger, the first at `start`."""
    params: dict[str, Any] = {
        "seller": seller_id,
        "user": user_id,
        "count": count,
        "start": start,
        "step": step,
        "amount": amount,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # A million rows take longer than a request may (DB_STATEMENT_TIMEOUT_MS).
        cursor.execute("SET LOCAL statement_timeout = 0")
        # The running-balance trigger looks up each row's predecessor: a plan
        # this session cached while the ledger looked empty (autovacuum of a
        # small table) can be a sequential scan, quadratic over many rows.
        # Planned for each row, without sequential scans, it is the index.
        cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(_SQL, params)
        cursor.execute(
            f"UPDATE {Seller._meta.db_table} SET balance = balance + %s, ledger_sequence = ledger_sequence + %s WHERE id = %s",
            [amount * count, count, seller_id],
        )
