"""The callback job: send what is due, then schedule the next retry.

A job comes from the statement that records an event (record_event queues
one unless one waits), from a drain that ran out of time, from a retry's
backoff (scheduled at the first event due), and from the periodic sweep.
"""

import time
from datetime import timedelta

from django.utils import timezone
from procrastinate.contrib.django import app

from callbacks.jobs import DRAIN_SECONDS, SWEEP_CRON, logged_as, queue_at, queue_now
from callbacks.services import deliver_due_events, seconds_until_next_due

TASK = "deliver_callbacks"
QUEUE = "callbacks"
POSTS_IN_FLIGHT = 16


@app.periodic(cron=SWEEP_CRON, periodic_id="sweep")
@app.task(name=TASK, queue=QUEUE)
def deliver_callbacks(timestamp: int | None = None, request_id: str | None = None) -> None:
    """`timestamp` when the sweep queued it; `request_id` when a request did (staff resolving a recharge)."""
    until = time.monotonic() + DRAIN_SECONDS
    with logged_as(request_id):
        while deliver_due_events(max_workers=POSTS_IN_FLIGHT):
            if time.monotonic() >= until:
                queue_now(TASK, QUEUE)
                return
    due_in = seconds_until_next_due()
    if due_in is not None:
        queue_at(TASK, QUEUE, timezone.now() + timedelta(seconds=due_in))
