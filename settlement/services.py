"""Settlement: the operator's daily statement against our recharges.

For one operator and one business day, `settle` reads the operator's
statement (recharges.gateway, "The daily statement" in docs/operators.md),
loads it with COPY into a temporary table, and compares it with our
recharges in one query, by reference (the recharge's `topup_reference`):

- matched: the same top-up, the same amount, and the same outcome (our
  `successful` is the operator's `successful`; our `failed` its `declined`
  or `rejected_number`);
- ours only: successful here, absent from the statement (nor in the next
  day's, where a top-up sent in the day's last moments is recorded): the
  customer may have got nothing;
- theirs only: in the statement, no recharge here has its reference;
- status mismatch (the costly one: the operator charged a top-up we
  refunded, so the platform paid it twice), then amount mismatch;
- duplicate: the statement charges one top-up more than once.

Our side of a day is every recharge of the operator sold that day whose
top-up was sent, and any recharge the statement names (sold the day
before). A recharge still pending is not judged yet: the settlement counts
it (`pending`), and the daily job settles the day again once none is. Each difference
becomes a SettlementCase, once however often the day is settled again
(UNIQUE): staff resolve it with a note (`resolve_case`). A clean day
settles with none.
"""

import time
import uuid
from datetime import date, timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from config.dates import business_today, day_start
from recharges.floats import write_off_loss
from recharges.gateway import HttpGateway, StatementLine
from settlement.errors import CaseAlreadyResolved
from settlement.models import Settlement, SettlementCase

_COMPARE = """
WITH lines AS (
    -- One row per reference: a top-up the operator charged more than once
    -- stands for the sum of its charges (a duplicate case).
    SELECT reference, reference_uuid, min(msisdn) AS msisdn,
           count(*) FILTER (WHERE status = 'successful') AS charges,
           coalesce(sum(amount) FILTER (WHERE status = 'successful'), min(amount)) AS amount,
           CASE WHEN bool_or(status = 'successful') THEN 'successful' ELSE min(status) END AS status,
           min(operator_reference) AS operator_reference
      FROM statement_line
     GROUP BY reference, reference_uuid
), ours AS (
    SELECT r.id, r.topup_reference, r.amount, r.status, r.phone_number_id
      FROM recharges_recharge r
     WHERE r.operator = %(operator)s AND r.created_at >= %(start)s AND r.created_at < %(end)s
       AND r.topup_requested_at IS NOT NULL
     UNION
    SELECT r.id, r.topup_reference, r.amount, r.status, r.phone_number_id
      FROM lines s JOIN recharges_recharge r ON r.topup_reference = s.reference_uuid
     WHERE r.operator = %(operator)s
), compared AS (
    SELECT coalesce(s.reference, o.topup_reference::text) AS reference, o.id AS recharge_id,
           o.amount AS our_amount, o.status AS our_status, s.amount AS their_amount, s.status AS their_status,
           s.operator_reference AS their_reference, coalesce(s.msisdn, pn.e164) AS msisdn,
           CASE WHEN o.status = 'pending' THEN 'pending'
                -- Failed here and absent there: nothing was charged, as we say.
                WHEN s.reference IS NULL THEN CASE WHEN o.status = 'successful' THEN 'ours_only' ELSE 'matched' END
                WHEN o.id IS NULL THEN 'theirs_only'
                WHEN s.charges > 1 THEN 'duplicate'
                -- The outcome before the amount: a refunded top-up they charged is the costly one, whatever its amount.
                WHEN (o.status = 'successful') <> (s.status = 'successful') THEN 'status_mismatch'
                WHEN o.amount <> s.amount THEN 'amount_mismatch'
                ELSE 'matched' END AS kind
      FROM ours o
      FULL JOIN lines s ON s.reference_uuid = o.topup_reference
      LEFT JOIN recharges_phonenumber pn ON pn.id = o.phone_number_id
)
SELECT reference, recharge_id, our_amount, our_status, their_amount, their_status, their_reference, msisdn, kind,
       NULL::bigint AS pending
  FROM compared
 WHERE kind NOT IN ('matched', 'pending')
UNION ALL
SELECT NULL, count(*) FILTER (WHERE recharge_id IS NOT NULL), count(*) FILTER (WHERE kind = 'matched'),
       NULL, count(*) FILTER (WHERE their_status IS NOT NULL), NULL, NULL, NULL, 'counts',
       count(*) FILTER (WHERE kind = 'pending')
  FROM compared
"""


def settle(*, operator: str, day: date, gateway: HttpGateway) -> Settlement:
    """Settles `operator`'s business `day` against its statement; returns the
    settlement, whose cases are the differences found (new ones only).
    Raises StatementUnavailable when the statement cannot be read (nothing written)."""
    started = time.perf_counter()
    lines = gateway.statement(operator=operator, day=day)
    with transaction.atomic():
        rows = _compare(operator, day, lines)
        counts = rows.pop()
        differences = _without_late_ones(rows, operator=operator, day=day, gateway=gateway)
        settlement = Settlement.objects.create(
            operator_id=operator,
            day=day,
            statement_lines=counts["their_amount"],
            recharges=counts["recharge_id"],
            matched=counts["our_amount"],
            differences=len(differences),
            pending=counts["pending"],
            seconds=time.perf_counter() - started,
        )
        SettlementCase.objects.bulk_create(
            [SettlementCase(settlement=settlement, operator_id=operator, day=day, **row) for row in differences],
            ignore_conflicts=True,
        )
    return settlement


def _compare(operator: str, day: date, lines: list[StatementLine]) -> list[dict]:
    """The differences (dicts of SettlementCase fields), then a last row of counts."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE statement_line (reference text, reference_uuid uuid, msisdn text, amount bigint,"
            " status text, operator_reference text) ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            "COPY statement_line (reference, reference_uuid, msisdn, amount, status, operator_reference) FROM STDIN"
        ) as copy:
            for line in lines:
                copy.write_row(
                    (
                        line.reference,
                        _uuid(line.reference),
                        line.msisdn,
                        line.amount,
                        line.status,
                        line.operator_reference,
                    )
                )
        cursor.execute("ANALYZE statement_line")
        cursor.execute(_COMPARE, {"operator": operator, "start": day_start(day), "end": day_start(day + timedelta(1))})
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        cursor.execute("DROP TABLE statement_line")  # not left to the commit: the caller's transaction may be longer
    counts = next(row for row in rows if row["kind"] == "counts")
    found = [_case_fields(row) for row in rows if row["kind"] != "counts"]
    return [*found, counts]


def _case_fields(row: dict) -> dict:
    return {
        "kind": row["kind"],
        "reference": row["reference"],
        "recharge_id": row["recharge_id"],
        "our_amount": row["our_amount"],
        "our_status": row["our_status"] or "",
        "their_amount": row["their_amount"],
        "their_status": row["their_status"] or "",
        "their_reference": row["their_reference"] or "",
        "msisdn": row["msisdn"] or "",
    }


def _without_late_ones(rows: list[dict], *, operator: str, day: date, gateway: HttpGateway) -> list[dict]:
    """Drops "ours only" recharges that the next day's statement has: sent in
    the day's last moments, recorded by the operator after midnight. That
    day is compared with them when it is settled."""
    ours_only = {row["reference"] for row in rows if row["kind"] == SettlementCase.Kind.OURS_ONLY}
    if not ours_only or day >= business_today():
        return rows
    late = {line.reference for line in gateway.statement(operator=operator, day=day + timedelta(1))} & ours_only
    return [row for row in rows if row["reference"] not in late]


def _uuid(reference: str) -> str | None:
    """The reference as our references are made (a UUID), else None: a
    reference of another form cannot be ours."""
    try:
        return str(uuid.UUID(reference))
    except ValueError:
        return None


def resolve_case(*, case_id: int, note: str, resolved_by: User) -> SettlementCase:
    """Closes a case with staff's note. A charged-but-refunded case writes the
    operator's charge off the operator's float (the platform's loss; the
    seller keeps the refund). Raises CaseAlreadyResolved for a closed case."""
    with transaction.atomic(durable=True):
        case = SettlementCase.objects.select_for_update().get(pk=case_id)
        if case.resolved_at is not None:
            raise CaseAlreadyResolved()
        loss = case.platform_loss
        if loss and case.recharge_id is not None:
            # On the float if it is tracked (write_off_loss); on the case always.
            write_off_loss(operator=case.operator_id, recharge_id=case.recharge_id, amount=loss, note=note[:255])
            case.loss = loss
        case.note = note
        case.resolved_by = resolved_by
        case.resolved_at = timezone.now()
        case.save(update_fields=["note", "resolved_by", "resolved_at", "loss"])
        return case
