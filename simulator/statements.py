"""The operator's daily statement: every top-up the simulator recorded on one
calendar day of its time zone (Tehran, as an Iranian operator's), as a CSV
file, the form real gateways hand their statements out in
(docs/operators.md, "The daily statement")."""

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from simulator.store import Store

COLUMNS = ("reference", "msisdn", "amount", "product", "status", "operator_reference", "recorded_at")
TIME_ZONE = ZoneInfo("Asia/Tehran")
_PATH = re.compile(r"([a-z0-9_\-]{1,32})/([0-9]{4}-[0-9]{2}-[0-9]{2})\.csv")


def parse_path(path: str) -> tuple[str, date] | None:
    """(operator, day) from `<operator>/<YYYY-MM-DD>.csv`, or None."""
    match = _PATH.fullmatch(path)
    if not match:
        return None
    try:
        return match[1], date.fromisoformat(match[2])
    except ValueError:
        return None


def _utc_text(moment: datetime) -> str:
    # As the store writes created_at, so that text comparison is time order.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


async def statement_csv(store: Store, *, operator: str, day: date) -> bytes:
    start = datetime.combine(day, time(), TIME_ZONE)
    end = datetime.combine(day + timedelta(days=1), time(), TIME_ZONE)
    rows = await store.statement(operator=operator, start=_utc_text(start), end=_utc_text(end))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows((r[0], r[1], r[2], r[3] or "", r[4], r[5] or "", r[6]) for r in rows)
    return out.getvalue().encode()
