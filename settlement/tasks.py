"""The daily settlement job: once the business day has closed (Tehran time
by default), settle it for every enabled operator not yet settled for it.

Queued every hour by procrastinate's periodic deferrer (any worker defers
it, once per hour), run by `manage.py run_settlement` on its own queue, so
that settling a large day never holds up a delivery or a callback. A day
whose statement could not be read is tried again the next hour."""

import logging
from datetime import timedelta

from procrastinate.contrib.django import app

from config.dates import business_today
from recharges.gateway import StatementUnavailable, gateway_from_settings
from recharges.models import Operator
from settlement.models import Settlement
from settlement.services import settle

log = logging.getLogger(__name__)

TASK = "settle_yesterday"
QUEUE = "settlement"


@app.periodic(cron="23 * * * *", periodic_id="settle")
@app.task(name=TASK, queue=QUEUE)
def settle_yesterday(timestamp: int | None = None) -> None:
    day = business_today() - timedelta(days=1)
    settled = Settlement.objects.filter(day=day).values_list("operator_id", flat=True)
    operators = Operator.objects.filter(enabled=True).exclude(code__in=settled).values_list("code", flat=True)
    gateway = gateway_from_settings()
    try:
        for operator in operators:
            try:
                settle(operator=operator, day=day, gateway=gateway)
            except StatementUnavailable:
                log.exception("settlement of %s for %s: no statement; tried again next hour", operator, day)
    finally:
        gateway.close()
