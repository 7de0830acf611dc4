from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet, Sum

from ledger.models import LedgerEntry
from sellers.models import Seller


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
    whose running-balance chain is broken; an empty list when all is right."""
    problems = []
    sums = dict(
        LedgerEntry.objects.values_list("seller_id").annotate(total=Sum("amount")).values_list("seller_id", "total")
    )
    for seller_id, balance in Seller.objects.values_list("pk", "balance"):
        total = sums.get(seller_id, 0)
        if balance != total or balance < 0:
            problems.append({"seller_id": seller_id, "balance": balance, "ledger_sum": total})
    for seller_id, sequence in _broken_chain_links():
        problems.append({"seller_id": seller_id, "broken_at_sequence": sequence})
    return problems


def _broken_chain_links() -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT seller_id, sequence FROM (
                SELECT seller_id, sequence, amount, balance_after,
                       lag(balance_after, 1, 0::bigint) OVER w AS previous,
                       lag(sequence, 1, 0::bigint) OVER w AS previous_sequence
                  FROM ledger_ledgerentry WINDOW w AS (PARTITION BY seller_id ORDER BY sequence)
            ) chain
            WHERE balance_after <> previous + amount OR sequence <> previous_sequence + 1
            """
        )
        return [(seller_id, sequence) for seller_id, sequence in cursor.fetchall()]
