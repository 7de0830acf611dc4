"""Reads for the seller portal. Every query is scoped to one seller; pages
are keyset pages (by the seller's ledger sequence or by id), so a page costs
the same on a short history or a long one."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from knox.models import AuthToken

from config.dates import business_time_zone, day_start
from config.dates import business_today as business_today  # the portal's views read today from here
from credits.selectors import credit_request_list
from ledger.models import LedgerEntry
from ledger.selectors import ledger_entries
from recharges.models import Product
from recharges.selectors import recharge_list

PAGE_SIZE = 50
# A seller's entries get their sequence under the seller's row lock, but their
# created_at when their transaction began, so the two orders can differ by as
# long as a transaction lasts (seconds: statement and lock timeouts). An hour
# is far beyond that; it only widens the index range read, never the result.
CLOCK_SLACK = timedelta(hours=1)
CHART_DAYS = 30
CSV_HEADER = ["sequence", "created_at", "kind", "amount", "balance_after", "reference_type", "reference_id"]
# The API's own datetime format (REST_FRAMEWORK["DATETIME_FORMAT"]), in UTC.
API_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_REFERENCES = [("credit_request_id", "credit_request"), ("recharge_id", "recharge"), ("adjustment_id", "adjustment")]


@dataclass(frozen=True)
class Page:
    items: list
    newer: int | None  # cursor of the page before (newer rows), None on the first page
    older: int | None  # cursor of the page after (older rows), None on the last page


def keyset_page(rows, *, key: str, before: int | None, after: int | None, size: int = PAGE_SIZE) -> Page:
    """Newest first by `key`: rows below `before`, or the page just above `after`."""
    if after is not None:
        items = list(rows.filter(**{f"{key}__gt": after}).order_by(key)[: size + 1])
        more_newer = len(items) > size
        items = items[:size][::-1]
        return Page(items, getattr(items[0], key) if more_newer else None, getattr(items[-1], key) if items else None)
    if before is not None:
        rows = rows.filter(**{f"{key}__lt": before})
    items = list(rows.order_by(f"-{key}")[: size + 1])
    more_older = len(items) > size
    items = items[:size]
    return Page(
        items,
        getattr(items[0], key) if items and before is not None else None,
        getattr(items[-1], key) if more_older else None,
    )


def statement_entries(*, seller_id: int, kind: str | None, date_from: date | None, date_to: date | None):
    """The seller's ledger, optionally one kind, between two business days (both inclusive)."""
    after = day_start(date_from) if date_from else None
    before = day_start(date_to + timedelta(days=1)) if date_to else None
    return entries_between(
        ledger_entries(seller_id=seller_id, kind=kind), seller_id=seller_id, after=after, before=before
    )


def entries_between(entries, *, seller_id: int, after: datetime | None, before: datetime | None):
    """`entries` with after <= created_at < before, also bounded by sequence
    numbers found by bisection on the (seller, sequence) index: created_at has
    no index (each one costs every sale), and with the bounds a date range
    reads only its own part of a long ledger."""
    if after is not None:
        entries = entries.filter(
            created_at__gte=after, sequence__gt=_last_sequence_before(seller_id, after - CLOCK_SLACK)
        )
    if before is not None:
        entries = entries.filter(
            created_at__lt=before, sequence__lte=_last_sequence_before(seller_id, before + CLOCK_SLACK)
        )
    return entries


def _last_sequence(seller_id: int) -> int:
    return ledger_entries(seller_id=seller_id).order_by("-sequence").values_list("sequence", flat=True).first() or 0


def _last_sequence_before(seller_id: int, moment: datetime) -> int:
    """A sequence s, by bisection (about log2(entries) one-row index reads):
    0 or an entry created before `moment`, so every entry numbered up to s is
    older than moment + CLOCK_SLACK; and the last entry, or followed by one
    created at or after `moment`, so every entry after s is at least as new
    as moment - CLOCK_SLACK."""
    low, high = 0, _last_sequence(seller_id)
    entries = ledger_entries(seller_id=seller_id)
    while low < high:
        middle = (low + high + 1) // 2
        if entries.filter(sequence=middle).values_list("created_at", flat=True).get() < moment:
            low = middle
        else:
            high = middle - 1
    return low


def statement_csv_rows(entries) -> Iterator[list]:
    """The export's rows (contract: Exports) in sequence order, read in chunks
    so memory does not grow with the ledger."""
    yield CSV_HEADER
    fields = ["sequence", "created_at", "kind", "amount", "balance_after", *(field for field, _ in _REFERENCES)]
    for sequence, created_at, kind, amount, balance_after, *sources in (
        entries.order_by("sequence").values_list(*fields).iterator(chunk_size=2000)
    ):
        reference_type, reference_id = next(
            (name, source) for (_, name), source in zip(_REFERENCES, sources, strict=False) if source
        )
        created = created_at.astimezone(ZoneInfo("UTC")).strftime(API_DATETIME_FORMAT)
        yield [sequence, created, kind, amount, balance_after, reference_type, reference_id]


def _sales(*, seller_id: int, since: datetime):
    """The seller's recharge debits from `since` on (read from the ledger, where
    a date range maps to a range of the seller's sequence numbers)."""
    return entries_between(
        ledger_entries(seller_id=seller_id, kind=LedgerEntry.Kind.RECHARGE),
        seller_id=seller_id,
        after=since,
        before=None,
    )


def sales_since(*, seller_id: int, since: datetime) -> dict:
    """Count and amount of the seller's recharges from `since` on."""
    totals = _sales(seller_id=seller_id, since=since).aggregate(count=Count("id"), amount=Sum("amount"))
    return {"count": totals["count"], "amount": -(totals["amount"] or 0)}


def daily_sales(*, seller_id: int, today: date, days: int = CHART_DAYS) -> list[tuple[date, int, int]]:
    """(day, count, amount) for each of the last `days` business days, oldest first, empty days included."""
    first = today - timedelta(days=days - 1)
    rows = (
        _sales(seller_id=seller_id, since=day_start(first))
        .annotate(day=TruncDate("created_at", tzinfo=business_time_zone()))
        .values("day")
        .annotate(count=Count("id"), amount=-Sum("amount"))
        .order_by()
        .values_list("day", "count", "amount")
    )
    by_day = {day: (count, amount) for day, count, amount in rows}
    return [(first + timedelta(days=n), *by_day.get(first + timedelta(days=n), (0, 0))) for n in range(days)]


def commission_earned(*, seller_id: int, today: date, month_first: date) -> dict:
    """The commission credited to the seller (ledger entries of kind
    `commission`) on the business day `today` and from the business day
    `month_first` up to the end of `today`, both summed by the database in one
    query over the sequence range of those days."""
    today_start = day_start(today)
    entries = entries_between(
        ledger_entries(seller_id=seller_id, kind=LedgerEntry.Kind.COMMISSION),
        seller_id=seller_id,
        after=day_start(month_first),
        before=day_start(today + timedelta(days=1)),
    )
    return entries.aggregate(
        today=Sum("amount", filter=Q(created_at__gte=today_start), default=0), month=Sum("amount", default=0)
    )


def sale_products() -> list[Product]:
    """The data packages the sale form offers: enabled, of an enabled operator,
    by operator then price."""
    return list(Product.objects.filter(enabled=True, operator__enabled=True).order_by("operator_id", "amount", "code"))


def seller_recharges(
    *, seller_id: int, phone_number: str | None, status: str | None, date_from: date | None, date_to: date | None
):
    """The seller's recharges, each with the API's own rendered `body` and
    its `refund_balance_after`, filtered."""
    recharges = _with_refund(recharge_list(seller_id=seller_id, status=status or None), seller_id=seller_id)
    if phone_number:
        recharges = recharges.filter(phone_number__e164=phone_number)
    if date_from:
        recharges = recharges.filter(created_at__gte=day_start(date_from))
    if date_to:
        recharges = recharges.filter(created_at__lt=day_start(date_to + timedelta(days=1)))
    return recharges


def seller_recharge(*, seller_id: int, recharge_id: int):
    """One of the seller's recharges as seller_recharges gives them, or None
    (an unknown id or another seller's)."""
    return _with_refund(recharge_list(seller_id=seller_id), seller_id=seller_id).filter(pk=recharge_id).first()


def _with_refund(recharges, *, seller_id: int):
    """`refund_balance_after`: the balance after a failed recharge's refund,
    None for any other. The API's body gives the balance after the debit
    only, which for a failed sale is not the balance any more."""
    refund = ledger_entries(seller_id=seller_id, kind=LedgerEntry.Kind.REFUND).filter(recharge_id=OuterRef("pk"))
    return recharges.annotate(refund_balance_after=Subquery(refund.values("balance_after")))


def seller_credit_requests(*, seller_id: int, status: str | None):
    return credit_request_list(seller_id=seller_id, status=status)


def api_tokens(*, user) -> list[AuthToken]:
    """The user's live API tokens (only their first characters are stored in clear)."""
    return list(AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created"))
