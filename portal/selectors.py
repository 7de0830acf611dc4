"""Reads for the seller portal. Every query is scoped to one seller; pages
are keyset pages (by the seller's ledger sequence or by id), so a page costs
the same on a short history or a long one."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from knox.models import AuthToken

from credits.selectors import credit_request_list
from ledger.selectors import ledger_entries
from recharges.models import Recharge
from recharges.selectors import recharge_list

PAGE_SIZE = 50
CHART_DAYS = 30
CSV_HEADER = ["sequence", "created_at", "kind", "amount", "balance_after", "reference_type", "reference_id"]
# The API's own datetime format (REST_FRAMEWORK["DATETIME_FORMAT"]), in UTC.
API_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_REFERENCES = [("credit_request_id", "credit_request"), ("recharge_id", "recharge"), ("adjustment_id", "adjustment")]


def business_time_zone() -> ZoneInfo:
    """Days are the business's calendar days (Asia/Tehran unless configured)."""
    return ZoneInfo(getattr(settings, "BUSINESS_TIME_ZONE", "Asia/Tehran"))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=business_time_zone())


def business_today() -> date:
    return timezone.now().astimezone(business_time_zone()).date()


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
    return ledger_entries(
        seller_id=seller_id,
        kind=kind,
        created_after=day_start(date_from) if date_from else None,
        created_before=day_start(date_to + timedelta(days=1)) if date_to else None,
    )


def statement_csv_rows(entries) -> Iterator[list]:
    """The export's rows (contract: Exports) in sequence order, read in chunks
    so memory does not grow with the ledger."""
    yield CSV_HEADER
    fields = ["sequence", "created_at", "kind", "amount", "balance_after", *(field for field, _ in _REFERENCES)]
    for sequence, created_at, kind, amount, balance_after, *sources in (
        entries.order_by("sequence").values_list(*fields).iterator(chunk_size=2000)
    ):
        reference_type, reference_id = next((name, source) for (_, name), source in zip(_REFERENCES, sources) if source)
        created = created_at.astimezone(ZoneInfo("UTC")).strftime(API_DATETIME_FORMAT)
        yield [sequence, created, kind, amount, balance_after, reference_type, reference_id]


def sales_since(*, seller_id: int, since: datetime) -> dict:
    """Count and amount of the seller's recharges from `since` on."""
    totals = Recharge.objects.filter(seller_id=seller_id, created_at__gte=since).aggregate(
        count=Count("id"), amount=Sum("amount")
    )
    return {"count": totals["count"], "amount": totals["amount"] or 0}


def daily_sales(*, seller_id: int, today: date, days: int = CHART_DAYS) -> list[tuple[date, int, int]]:
    """(day, count, amount) for each of the last `days` business days, oldest first, empty days included."""
    first = today - timedelta(days=days - 1)
    rows = (
        Recharge.objects.filter(seller_id=seller_id, created_at__gte=day_start(first))
        .annotate(day=TruncDate("created_at", tzinfo=business_time_zone()))
        .values("day")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .values_list("day", "count", "amount")
    )
    by_day = {day: (count, amount) for day, count, amount in rows}
    return [(first + timedelta(days=n), *by_day.get(first + timedelta(days=n), (0, 0))) for n in range(days)]


def seller_recharges(*, seller_id: int, phone_number: str | None, date_from: date | None, date_to: date | None):
    recharges = recharge_list(seller_id=seller_id)
    if phone_number:
        recharges = recharges.filter(phone_number__e164=phone_number)
    if date_from:
        recharges = recharges.filter(created_at__gte=day_start(date_from))
    if date_to:
        recharges = recharges.filter(created_at__lt=day_start(date_to + timedelta(days=1)))
    return recharges


def seller_credit_requests(*, seller_id: int, status: str | None):
    return credit_request_list(seller_id=seller_id, status=status)


def api_tokens(*, user) -> list[AuthToken]:
    """The user's live API tokens (only their first characters are stored in clear)."""
    return list(AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created"))
