"""The daily settlement job: once a business day has closed (Tehran time by
default), settle it for every enabled operator.

Queued every hour by procrastinate's periodic deferrer (any worker defers
it, once per hour), run by `manage.py run_settlement` on its own queue, so
that settling a large day never holds up a delivery or a callback. Each run
looks back SETTLEMENT_LOOKBACK_DAYS: a day not settled yet (its statement
could not be read, or the job did not run that day) is tried again every
hour, and so is a day whose last settlement still found recharges pending,
until they are final and judged. One operator's unreadable statement never
stops the others'; a gateway that does not answer at all ends the run (the
next hour's tries them all)."""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import OuterRef, Subquery
from procrastinate.contrib.django import app

from config.dates import business_today
from recharges.gateway import GatewayUnreachable, StatementUnavailable, gateway_from_settings
from recharges.models import Operator
from settlement.models import Settlement
from settlement.services import settle

log = logging.getLogger(__name__)

TASK = "settle_yesterday"
QUEUE = "settlement"


@app.periodic(cron="23 * * * *", periodic_id="settle")
@app.task(name=TASK, queue=QUEUE)
def settle_yesterday(timestamp: int | None = None) -> None:
    gateway = gateway_from_settings()
    try:
        for operator, day in days_to_settle():
            try:
                settle(operator=operator, day=day, gateway=gateway)
            except GatewayUnreachable as error:
                # No other statement would come either: the next hour's run tries them all.
                log.warning("settlement stopped: the gateway does not answer (%s); tried again next hour", error)
                return
            except StatementUnavailable as error:
                log.warning("settlement of %s for %s: %s; tried again next hour", operator, day, error)
            except DatabaseError:
                log.exception("settlement of %s for %s failed; tried again next hour", operator, day)
    finally:
        gateway.close()


def days_to_settle() -> list[tuple[str, date]]:
    """(operator, day) for every enabled operator and closed day in the
    lookback whose last settlement is missing or still had pending recharges,
    oldest day first."""
    yesterday = business_today() - timedelta(days=1)
    days = [yesterday - timedelta(days=back) for back in reversed(range(settings.SETTLEMENT_LOOKBACK_DAYS))]
    latest = Settlement.objects.filter(operator=OuterRef("operator_id"), day=OuterRef("day")).order_by("-settled_at")
    done = set(
        Settlement.objects.filter(day__in=days)
        .annotate(latest_pending=Subquery(latest.values("pending")[:1]))
        .filter(latest_pending=0)
        .values_list("operator_id", "day")
    )
    operators = Operator.objects.filter(enabled=True).order_by("code").values_list("code", flat=True)
    return [(operator, day) for day in days for operator in operators if (operator, day) not in done]
