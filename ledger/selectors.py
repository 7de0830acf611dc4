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
    """What the books do not explain; an empty list when all is right:

    - a seller whose balance differs from the sum of its ledger entries (or is
      negative): {"seller_id", "balance", "ledger_sum"};
    - a broken running-balance chain: {"seller_id", "broken_at_sequence"};
    - a recharge whose commission entry is not what it earned (a successful
      recharge's is commission_of(amount, commission_rate), paid to its
      seller; any other's is none): a successful one missing its entry or paid
      another amount, or a pending or failed one with an entry:
      {"seller_id", "recharge_id", "status", "commission", "commission_entry"
      (the entry's amount, or None), "paid_to" (the entry's seller, or None)}.

    One statement, so one snapshot: read in several, a credit, a refund or a
    success with its commission committing between the balances and the sums
    (a request still running after its client gave up) would look like a
    broken book."""
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
            ), commissions AS (
                -- Only recharges that earn one or have an entry: rate 0 is most sales.
                SELECT r.seller_id, r.id, r.status,
                       CASE WHEN r.status = 'successful' THEN commission_of(r.amount, r.commission_rate) ELSE 0 END
                           AS owed,
                       c.amount AS paid, c.seller_id AS paid_to
                  FROM recharges_recharge r
                  LEFT JOIN ledger_ledgerentry c ON c.recharge_id = r.id AND c.kind = 'commission'
                 WHERE (r.status = 'successful' AND r.commission_rate > 0) OR c.id IS NOT NULL
            )
            SELECT 'balance', s.id, s.balance, coalesce(sums.total, 0), NULL::bigint, NULL::bigint, NULL::text
              FROM sellers_seller s LEFT JOIN sums ON sums.seller_id = s.id
             WHERE s.balance <> coalesce(sums.total, 0) OR s.balance < 0
            UNION ALL
            SELECT 'chain', seller_id, sequence, NULL, NULL, NULL, NULL
              FROM chain
             WHERE balance_after <> previous + amount OR sequence <> previous_sequence + 1
            UNION ALL
            SELECT 'commission', seller_id, id, owed, paid, paid_to, status
              FROM commissions
             WHERE owed <> coalesce(paid, 0) OR paid_to <> seller_id
            """
        )
        rows = cursor.fetchall()
    return [_problem(*row) for row in rows]


def _problem(
    kind: str, seller_id: int, number: int, expected: int | None, found: int | None, paid_to: int | None, status: str
) -> dict[str, Any]:
    """One row of reconcile's statement as its problem: `number` is the
    balance, the broken sequence or the recharge id."""
    if kind == "balance":
        return {"seller_id": seller_id, "balance": number, "ledger_sum": expected}
    if kind == "chain":
        return {"seller_id": seller_id, "broken_at_sequence": number}
    return {
        "seller_id": seller_id,
        "recharge_id": number,
        "status": status,
        "commission": expected,
        "commission_entry": found,
        "paid_to": paid_to,
    }
