"""The one write of the reports app: day totals of closed days.

Reports must not cost more as the ledger grows, and the ledger's hot path
must not pay for them: no trigger, no write per sale. Instead, a day that is
over is summed once (`manage.py summarize_ledger_days`, run hourly or daily)
into DayTotal; reports read those rows and sum only the entries of later
days live. Until the command runs, reports sum everything live: slower,
never wrong.

An entry's created_at is its transaction's start, so an entry of a day can
commit just after the day ends. A day is summed only SETTLE after its end
(every money transaction here is a few statements under the statement and
lock timeouts, far shorter), and each run sums its last RESUM_DAYS days again.
"""

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from ledger.models import LedgerEntry
from reports.models import DayTotal, SummaryState
from reports.selectors import ADJUSTMENT, COMMISSION, CREDIT, RECHARGE, REFUND, business_zone, day_start

SETTLE = timedelta(hours=1)
RESUM_DAYS = 2

_SUMMARIZE_SQL = f"""
INSERT INTO {DayTotal._meta.db_table}
       (seller_id, day, recharges, recharged_amount, refunded_amount, credited_amount, adjusted_amount,
        commission_amount, net)
SELECT seller_id, day,
       count(*) FILTER (WHERE kind = '{RECHARGE}'),
       coalesce(sum(abs(amount)) FILTER (WHERE kind = '{RECHARGE}'), 0),
       coalesce(sum(abs(amount)) FILTER (WHERE kind = '{REFUND}'), 0),
       coalesce(sum(abs(amount)) FILTER (WHERE kind = '{CREDIT}'), 0),
       coalesce(sum(amount) FILTER (WHERE kind = '{ADJUSTMENT}'), 0),
       coalesce(sum(amount) FILTER (WHERE kind = '{COMMISSION}'), 0),
       sum(amount)
  FROM (SELECT seller_id, kind, amount, (created_at AT TIME ZONE %(zone)s)::date AS day
          FROM {LedgerEntry._meta.db_table}
         WHERE (%(start)s::timestamptz IS NULL OR created_at >= %(start)s) AND created_at < %(end)s) entries
 GROUP BY GROUPING SETS ((seller_id, day), (day))
"""  # noqa: S608 - table names and kinds are constants; values are parameters


def last_closed_day(*, now: datetime) -> date:
    """The last business day that ended at least SETTLE before `now`."""
    return (now - SETTLE).astimezone(business_zone()).date() - timedelta(1)


def summarize_days(*, now: datetime | None = None) -> date | None:
    """Sums every closed day not yet summed (and the last RESUM_DAYS again)
    into DayTotal; returns the last day summed, None if there is none yet."""
    zone = str(business_zone())
    through = last_closed_day(now=now or timezone.now())
    with transaction.atomic(durable=True):
        # One summarizer at a time; readers keep reading the rows they see.
        state = SummaryState.objects.select_for_update().filter(pk=1).first()
        if state is not None and state.time_zone == zone:
            first = state.through - timedelta(RESUM_DAYS - 1)
            start = day_start(first)
            DayTotal.objects.filter(day__gte=first).delete()
        else:
            start = None
            DayTotal.objects.all().delete()
        end = day_start(through + timedelta(1))
        with connection.cursor() as cursor:
            # A first run sums the whole ledger: longer than a request may take.
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute(_SUMMARIZE_SQL, {"zone": zone, "start": start, "end": end})
        SummaryState.objects.update_or_create(pk=1, defaults={"time_zone": zone, "through": through})
    return through
