"""Procrastinate, the job queue in PostgreSQL, as the apps use it: to wake a
worker and to schedule a retry, never as the record of the work.

The work is in the apps' own rows (a pending recharge, an undelivered event),
committed with the change that makes it; a job only says "look now" (or "look
at"), so a lost or doubled job loses or doubles nothing. The SQL is in
callbacks/sql/job_queue.sql (callbacks is the lowest app that queues jobs);
the sale's own wake-up is a trigger (recharges/sql/recharge_wake_delivery.sql).
"""

from datetime import datetime

from django.db import connection
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector

# How long one job drains before it hands over to the next: bounds a graceful
# shutdown (SIGTERM waits for the running job), never the rate.
DRAIN_SECONDS = 5.0
# Also the periodic sweep's period: it finds what no job was queued for (a
# lease run out after a worker was killed).
SWEEP_CRON = "* * * * * */10"


def queue_now(task: str, queue: str) -> None:
    """Queues a job of `task` unless one already waits to run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT queue_job_unless_waiting(%s, %s)", [task, queue])


def queue_at(task: str, queue: str, at: datetime) -> None:
    """Schedules a job of `task` at `at` unless one runs by then anyway."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT schedule_job_unless_due(%s, %s, %s)", [task, queue, at])


def run_worker(queue: str) -> None:
    """Runs procrastinate's worker on `queue`, one job at a time (a job drains
    many items concurrently), until SIGTERM or Ctrl-C, which lets the running
    job finish. Finished jobs are deleted: the apps' rows keep the history."""
    connector = app.connector
    assert isinstance(connector, DjangoConnector)  # noqa: S101 - the Django integration's, by configuration
    with app.replace_connector(connector.get_worker_connector()):
        app.run_worker(queues=[queue], concurrency=1, delete_jobs="successful", listen_notify=True)
