from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from ledger.models import LedgerEntry


def ledger_entries(
    *,
    seller_id: int,
    kind: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(seller_id=seller_id)
    if kind:
        entries = entries.filter(kind=kind)
    if created_after is not None:
        entries = entries.filter(created_at__gte=created_after)
    if created_before is not None:
        entries = entries.filter(created_at__lt=created_before)
    return entries


def reconcile() -> list[dict[str, Any]]:
    """Sellers whose balance differs from the sum of their ledger entries, or
    whose running-balance chain is broken; an empty list when all is right.

    One statement, so one snapshot: read in several, a credit or a refund
    committing between the balances and the sums (a request still running
    after its client gave up) would look like a broken book."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH sums AS (
                SELECT seller_id, sum(amount) AS total FROM ledger_ledgerentry GROUP BY seller_id
            ), chain AS (
                SELECT seller_id, sequence, amount, balance_after,
                       lag(balance_after, 1, 0::bigint) OVER w AS previous,
                       lag(sequence, 1, 0::bigint) OVER w AS previous_sequence
                  FROM ledger_ledgerentry WINDOW w AS (PARTITION BY seller_id ORDER BY sequence)
            )
            SELECT s.id, s.balance, coalesce(sums.total, 0), NULL::bigint
              FROM sellers_seller s LEFT JOIN sums ON sums.seller_id = s.id
             WHERE s.balance <> coalesce(sums.total, 0) OR s.balance < 0
            UNION ALL
            SELECT seller_id, NULL, NULL, sequence
              FROM chain
             WHERE balance_after <> previous + amount OR sequence <> previous_sequence + 1
            """
        )
        rows = cursor.fetchall()
    return [
        {"seller_id": seller_id, "balance": balance, "ledger_sum": total}
        if broken_at is None
        else {"seller_id": seller_id, "broken_at_sequence": broken_at}
        for seller_id, balance, total, broken_at in rows
    ]
