"""The delivery job: drain what is due, then say when to look again.

A job comes from the sale statement itself (recharge_wake_delivery queues one
unless one waits), from a drain that ran out of time (the next one now), from
a drain that left status queries for later (scheduled at the first one due),
and from the periodic sweep. Many may run, in many processes: claims use
SKIP LOCKED, and a job that finds nothing due ends at once.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from django.conf import settings
from django.db.models import Min
from procrastinate.contrib.django import app

from callbacks.jobs import DRAIN_SECONDS, SWEEP_CRON, logged_as, queue_at, queue_now
from recharges.delivery import drain_due
from recharges.gateway import HttpGateway, gateway_from_settings
from recharges.models import Recharge

TASK = "deliver_recharges"
QUEUE = "delivery"


@cache
def _gateway() -> HttpGateway:
    return gateway_from_settings()  # one per process, shared by its jobs (a client per calling thread)


@cache
def _calls(concurrency: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(concurrency, thread_name_prefix="operator")


@app.periodic(cron=SWEEP_CRON, periodic_id="sweep")
@app.task(name=TASK, queue=QUEUE)
def deliver_recharges(timestamp: int | None = None, request_id: str | None = None) -> None:
    """`timestamp` when the sweep queued it; `request_id` when a sale did."""
    concurrency = settings.DELIVERY_CONCURRENCY
    with logged_as(request_id):
        more = drain_due(
            _gateway(), _calls(concurrency), concurrency=concurrency, until=time.monotonic() + DRAIN_SECONDS
        )
    if more:
        queue_now(TASK, QUEUE)
        return
    next_due = Recharge.objects.filter(status=Recharge.Status.PENDING).aggregate(at=Min("next_attempt_at"))["at"]
    if next_due is not None:
        queue_at(TASK, QUEUE, next_due)
