"""The callback job: send what is due, then schedule the next retry.

A job comes from the statement that records an event (record_event queues
one unless one waits), from a drain that ran out of time, from a retry's
backoff (scheduled at the first event due), and from the periodic sweep.
"""

import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django import app

from callbacks.jobs import DRAIN_SECONDS, SWEEP_CRON, logged_as, queue_at, queue_now
from callbacks.sender import deliver_due_events, seconds_until_next_due

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


@app.periodic(cron="7 * * * *", periodic_id="prune")
@app.task(name="prune_jobs", queue=QUEUE)
def prune_jobs(timestamp: int | None = None) -> None:
    """Deletes the jobs nobody needs: ended without success over an hour ago
    (successful ones are deleted as they end), or left running by a worker
    that died (procrastinate unlinks it when the next worker starts). A job
    is only a wake-up: the work it was for is in the apps' rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            DELETE FROM procrastinate_jobs
             WHERE (status IN ('failed', 'cancelled', 'aborted') AND id IN (
                        SELECT job_id FROM procrastinate_events
                         WHERE type IN ('failed', 'cancelled', 'aborted') AND at < now() - interval '1 hour'))
                OR (status = 'doing' AND worker_id IS NULL)
            """
        )
