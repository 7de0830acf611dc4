"""Reads for reports, exports and the staff dashboard.

Aggregation runs in PostgreSQL, one GROUP BY per report: the number of days
asked for changes how many rows come back, not how many queries run. A day is
a calendar day in settings.BUSINESS_TIME_ZONE; an entry counts on the day its
`created_at` falls in that zone.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateField, F, Q, Sum, Value
from django.db.models.functions import Abs, Coalesce, Greatest, Least, TruncDate

from config.dates import business_time_zone as business_zone
from config.dates import business_today as business_today  # the reports' day, from the one home of days
from config.dates import day_start as day_start
from credits.models import CreditRequest
from credits.selectors import credit_request_list
from ledger.models import BalanceAdjustment, LedgerEntry
from recharges.models import Recharge
from reports.models import DayTotal, SummaryState

# By name, not LedgerEntry.Kind: `refund` arrives with the delivery work, and
# these sums must be right before and after it does.
RECHARGE, REFUND, CREDIT, ADJUSTMENT, COMMISSION = "recharge", "refund", "credit", "adjustment", "commission"

EXPORT_HEADER = "sequence,created_at,kind,amount,balance_after,reference_type,reference_id\n"
EXPORT_CHUNK_ROWS = 5000


def _day_totals() -> dict:
    """Per-group sums of a day's entries, as in a report row."""
    zero = Value(0)
    return {
        "recharges": Count("pk", filter=Q(kind=RECHARGE)),
        "recharged_amount": Coalesce(Sum(Abs("amount"), filter=Q(kind=RECHARGE)), zero),
        "refunded_amount": Coalesce(Sum(Abs("amount"), filter=Q(kind=REFUND)), zero),
        "credited_amount": Coalesce(Sum(Abs("amount"), filter=Q(kind=CREDIT)), zero),
        "adjusted_amount": Coalesce(Sum("amount", filter=Q(kind=ADJUSTMENT)), zero),
        "commission_amount": Coalesce(Sum("amount", filter=Q(kind=COMMISSION)), zero),
    }


FIGURES = [
    "recharges",
    "recharged_amount",
    "refunded_amount",
    "credited_amount",
    "adjusted_amount",
    "commission_amount",
]
_EMPTY_DAY = dict.fromkeys(FIGURES, 0)


def daily_report(*, date_from: date, date_to: date, seller_id: int | None = None) -> list[dict]:
    """One row per day from `date_from` to `date_to` inclusive, oldest first.

    With `seller_id`: that seller's rows, each with `balance_end` (the sum of
    every entry before the day's end: for today and later, the balance).
    Without: all sellers summed, no balance.

    Days up to the last summed one (reports.services.summarize_days) come
    from DayTotal, later days from the entries themselves: at most three
    queries, whatever the range, and a cost that does not grow with the
    ledger's history. DayTotal rows change only for days already over, so
    the two reads need no common snapshot.
    """
    through = summarized_through()
    if seller_id is None:
        return _all_sellers_days(date_from, date_to, through)
    return _seller_days(seller_id, date_from, date_to, through)


def summarized_through() -> date | None:
    """The last day DayTotal holds, if it holds days of this time zone."""
    state = SummaryState.objects.filter(pk=1, time_zone=str(business_zone())).values_list("through", flat=True)
    return state.first()


def _all_sellers_days(date_from: date, date_to: date, through: date | None) -> list[dict]:
    by_day = {}
    if through is not None and date_from <= through:
        summed = DayTotal.objects.filter(seller__isnull=True, day__gte=date_from, day__lte=min(date_to, through))
        by_day = {row["day"]: _without(row, "day") for row in summed.values("day", *FIGURES)}
    live_from = date_from if through is None else max(date_from, through + timedelta(1))
    if live_from <= date_to:
        live = (
            LedgerEntry.objects.filter(
                created_at__gte=day_start(live_from), created_at__lt=day_start(date_to + timedelta(1))
            )
            .annotate(day=TruncDate("created_at", tzinfo=business_zone()))
            .values("day")
            .annotate(**_day_totals())
        )
        by_day.update({row["day"]: _without(row, "day") for row in live})
    return [{"date": day, **by_day.get(day, _EMPTY_DAY)} for day in _days(date_from, date_to)]


def _seller_days(seller_id: int, date_from: date, date_to: date, through: date | None) -> list[dict]:
    # Days before the range fold into the day before it (the opening
    # balance), days after it into the day after.
    before, after = date_from - timedelta(1), date_to + timedelta(1)
    by_day: dict[date, dict] = {}
    live = LedgerEntry.objects.filter(seller_id=seller_id)
    if through is not None:
        live = live.filter(created_at__gte=day_start(through + timedelta(1)))
        summed = (
            DayTotal.objects.filter(seller_id=seller_id, day__lte=min(through, after))
            .annotate(bucket=Greatest("day", Value(before)))
            .values("bucket")
            .annotate(net=Sum("net"), **{name: Sum(name) for name in FIGURES})
        )
        _add_rows(by_day, summed)
    bucket = Least(
        Greatest(TruncDate("created_at", tzinfo=business_zone()), Value(before)), Value(after), output_field=DateField()
    )
    _add_rows(by_day, live.annotate(bucket=bucket).values("bucket").annotate(net=Sum("amount"), **_day_totals()))
    balance = by_day.get(before, {}).get("net", 0)
    rows = []
    for day in _days(date_from, date_to):
        row = by_day.get(day, {"net": 0, **_EMPTY_DAY})
        balance += row.pop("net")
        rows.append({"date": day, **row, "balance_end": balance})
    return rows


def _add_rows(by_day: dict, rows) -> None:
    for row in rows:
        day = row.pop("bucket")
        if day in by_day:
            row = {name: by_day[day][name] + value for name, value in row.items()}
        by_day[day] = row


def _without(row, key: str) -> dict:
    return {name: value for name, value in row.items() if name != key}


def _days(date_from: date, date_to: date) -> Iterator[date]:
    for offset in range((date_to - date_from).days + 1):
        yield date_from + timedelta(offset)


# Lines are formatted by PostgreSQL: the export then moves text, as COPY does,
# and each FETCH is its own statement under the usual statement timeout.
_EXPORT_SQL = f"""
    SELECT concat_ws(',', sequence,
                     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                     kind, amount, balance_after,
                     CASE WHEN credit_request_id IS NOT NULL THEN 'credit_request'
                          WHEN recharge_id IS NOT NULL THEN 'recharge'
                          WHEN adjustment_id IS NOT NULL THEN 'adjustment' END,
                     coalesce(credit_request_id, recharge_id, adjustment_id)) || E'\\n'
      FROM {LedgerEntry._meta.db_table}
     WHERE seller_id = %s AND (%s::timestamptz IS NULL OR created_at >= %s) AND (%s::timestamptz IS NULL OR created_at < %s)
     ORDER BY sequence
"""  # noqa: S608 - the table name comes from the model; values are parameters


def export_sql(*, seller_id: int, created_after: datetime | None, created_before: datetime | None) -> tuple[str, list]:
    """The export's query and parameters (one CSV line per row)."""
    return _EXPORT_SQL, [seller_id, created_after, created_after, created_before, created_before]


@dataclass(frozen=True)
class Export:
    seller_id: int
    created_after: datetime | None = None
    created_before: datetime | None = None

    def lines(self) -> Iterator[str]:
        """The CSV, header first, in chunks of EXPORT_CHUNK_ROWS lines.

        A server-side cursor inside one read transaction: memory holds one
        chunk whatever the number of rows, and the rows are one snapshot.
        """
        yield EXPORT_HEADER
        sql, params = export_sql(
            seller_id=self.seller_id, created_after=self.created_after, created_before=self.created_before
        )
        with transaction.atomic(), connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(EXPORT_CHUNK_ROWS):
                yield "".join(line for (line,) in rows)


# The staff dashboard.

TOP_SELLERS = 10


def period_figures(rows: list[dict]) -> dict:
    """The dashboard's figures over daily report rows (a day's, or a month's),
    the one definition its cards and charts share:

    - gross: every sale debited those days, failed ones included (a failed
      sale is a debit and, apart from it, a refund);
    - refunds: the refunds posted those days, whichever day their sale was
      (as the ledger and the daily report count them: a day's figures do not
      change once it is over);
    - net: gross less refunds.
    """
    gross = sum(row["recharged_amount"] for row in rows)
    refunds = sum(row["refunded_amount"] for row in rows)
    return {
        "recharges": sum(row["recharges"] for row in rows),
        "gross": gross,
        "refunds": refunds,
        "net": gross - refunds,
        "top_ups": sum(row["credited_amount"] for row in rows),
        "commissions": sum(row["commission_amount"] for row in rows),
    }


def operator_sales(*, date_from: date, date_to: date) -> dict[tuple[date, str], dict]:
    """{(day, operator code): {"amount", "recharges"}}: the daily report's
    gross sales (recharged_amount, recharges) split by the operator of the
    recharge each debit sold."""
    rows = (
        LedgerEntry.objects.filter(
            kind=RECHARGE, created_at__gte=day_start(date_from), created_at__lt=day_start(date_to + timedelta(1))
        )
        .annotate(day=TruncDate("created_at", tzinfo=business_zone()))
        .values("day", operator=F("recharge__operator"))
        .annotate(amount=Sum(Abs("amount")), recharges=Count("pk"))
    )
    return {(row["day"], row["operator"]): {"amount": row["amount"], "recharges": row["recharges"]} for row in rows}


def top_sellers(*, since: date, limit: int = TOP_SELLERS) -> list[dict]:
    """Sellers by gross sales since the start of `since`, highest first, with
    their refunds and net counted as period_figures counts them."""
    sellers = (
        LedgerEntry.objects.filter(kind__in=[RECHARGE, REFUND], created_at__gte=day_start(since))
        .values("seller_id", "seller__name")
        .annotate(
            recharges=Count("pk", filter=Q(kind=RECHARGE)),
            gross=Coalesce(Sum(Abs("amount"), filter=Q(kind=RECHARGE)), Value(0)),
            refunds=Coalesce(Sum("amount", filter=Q(kind=REFUND)), Value(0)),
        )
        .filter(gross__gt=0)
        .order_by("-gross", "seller_id")[:limit]
    )
    return [{**row, "net": row["gross"] - row["refunds"]} for row in sellers]


def pending_credit_requests() -> dict:
    """Requests waiting for a first approval (count, amount) and, apart, those
    waiting for a second one (four eyes: `second`, `second_amount`)."""
    first = Q(status=CreditRequest.Status.PENDING)
    second = Q(status=CreditRequest.Status.AWAITING_SECOND_APPROVAL)
    totals = credit_request_list(seller_id=None).aggregate(
        first_count=Count("pk", filter=first),
        first_amount=Coalesce(Sum("amount", filter=first), Value(0)),
        second_count=Count("pk", filter=second),
        second_amount=Coalesce(Sum("amount", filter=second), Value(0)),
    )
    return {
        "count": totals["first_count"],
        "amount": totals["first_amount"],
        "second": totals["second_count"],
        "second_amount": totals["second_amount"],
    }


def adjustments_awaiting_second_approval() -> dict:
    """Balance adjustments waiting for a second approval (four eyes): count and
    the sum of their sizes (credits and debits alike)."""
    waiting = BalanceAdjustment.objects.filter(status=BalanceAdjustment.Status.AWAITING_SECOND_APPROVAL)
    return waiting.aggregate(count=Count("pk"), amount=Coalesce(Sum(Abs("amount")), Value(0)))


def delivery_overview(*, since: date, now: datetime) -> dict:
    """Everything the dashboard reads from the delivery fields of recharges
    (operator, status): per-operator outcomes since the start of `since`,
    deliveries pending and stuck past the status-query horizon."""
    per_operator = (
        Recharge.objects.filter(created_at__gte=day_start(since))
        .values("operator")
        .annotate(
            successful=Count("pk", filter=Q(status="successful")),
            failed=Count("pk", filter=Q(status="failed")),
            pending=Count("pk", filter=Q(status="pending")),
        )
        .order_by("operator")
    )
    pending = Recharge.objects.filter(status="pending")
    return {
        "operators": [{**row, "success_rate": _rate(row["successful"], row["failed"])} for row in per_operator],
        "pending": pending.count(),
        "stuck": pending.filter(created_at__lt=now - delivery_horizon()).count(),
    }


def _rate(successful: int, failed: int) -> float | None:
    """Successful among final outcomes; None before any is final."""
    return successful / (successful + failed) if successful + failed else None


def delivery_horizon() -> timedelta:
    """How long delivery keeps asking the operator before staff must resolve a recharge."""
    return timedelta(seconds=settings.DELIVERY_HORIZON_SECONDS)
