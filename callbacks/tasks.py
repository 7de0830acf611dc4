"""The callback job: send what is due, then schedule the next retry.

A job comes from the statement that records an event (record_event queues
one unless one waits), from a job that ran out of time, from a retry's
backoff (scheduled at the first event due), and from the periodic sweep.
Every job of a process runs the same `Sender`, whose attempts outlive the job
that started them: a job that runs out of time queues the next and returns
at once, and the next records what is still in flight.
"""

import functools
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django import app

from callbacks.jobs import DRAIN_SECONDS, SWEEP_CRON, logged_as, queue_at, queue_now
from callbacks.sender import Sender, seconds_until_next_due

TASK = "deliver_callbacks"
QUEUE = "callbacks"
# Threads are made as attempts need them. With 4 per seller (the sender's
# PER_SELLER_IN_FLIGHT), 31 sellers' receivers may hang at once and a 32nd
# seller still gets its attempts out at once; more processes, more room.
POSTS_IN_FLIGHT = 128


@functools.cache
def sender() -> Sender:
    """This process's sender, for every job it runs."""
    return Sender(max_in_flight=POSTS_IN_FLIGHT)


@app.periodic(cron=SWEEP_CRON, periodic_id="sweep")
@app.task(name=TASK, queue=QUEUE)
def deliver_callbacks(timestamp: int | None = None, request_id: str | None = None) -> None:
    """`timestamp` when the sweep queued it; `request_id` when a request did (staff resolving a recharge)."""
    until = time.monotonic() + DRAIN_SECONDS
    with logged_as(request_id):
        sender().run(until=until)
    if sender().in_flight or time.monotonic() >= until:
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
