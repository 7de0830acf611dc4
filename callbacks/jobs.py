"""Procrastinate, the job queue in PostgreSQL, as the apps use it: to wake a
worker and to schedule a retry, never as the record of the work.

The work is in the apps' own rows (a pending recharge, an undelivered event),
committed with the change that makes it; a job only says "look now" (or "look
at"), so a lost or doubled job loses or doubles nothing. The SQL is in
callbacks/sql/job_queue.sql (callbacks is the lowest app that queues jobs);
the sale's own wake-up is a trigger (recharges/sql/recharge_wake_delivery.sql).
"""

import asyncio
import logging
import signal
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

import psycopg
import structlog
from django.db import connection
from procrastinate.app import WorkerOptions
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.exceptions import ConnectorException
from procrastinate.worker import Worker

log = logging.getLogger(__name__)

# How long one job drains before it hands over to the next: bounds a graceful
# shutdown (SIGTERM waits for the running job), never the rate.
DRAIN_SECONDS = 5.0
# Also the periodic sweep's period: it finds what no job was queued for (a
# lease run out after a worker was killed).
SWEEP_CRON = "* * * * * */10"


def logged_as(request_id: str | None) -> AbstractContextManager:
    """Binds the id of the request that queued the job, if one did, to the job's log lines."""
    return structlog.contextvars.bound_contextvars(request_id=request_id) if request_id else nullcontext()


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
    job finish. Finished jobs are deleted: the apps' rows keep the history.

    procrastinate's worker stops when it loses its database (a restart, a
    failover); this one starts again, since all it had is in the apps' rows
    (a job left running is only a job: the sweep finds what it had leased)."""
    connector = app.connector
    assert isinstance(connector, DjangoConnector)  # the Django integration's, by configuration
    app.perform_import_paths()
    while True:
        with app.replace_connector(connector.get_worker_connector()):
            if asyncio.run(_work_until_stopped(queue)):
                return
        log.warning("job queue %s: database unavailable; worker restarting in 1 s", queue)
        time.sleep(1)


async def _work_until_stopped(queue: str) -> bool:
    """True when stopped by a signal; False when the worker stopped on its own (its database went away)."""
    options: WorkerOptions = {
        **app.worker_defaults,
        "queues": [queue],
        "concurrency": 1,
        "delete_jobs": "successful",
        "install_signal_handlers": False,
    }
    worker = Worker(app=app, **options)
    signalled = asyncio.Event()

    def stop() -> None:
        signalled.set()
        worker.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        async with app.open_async():
            # worker.run() forgets a stop asked for before it starts (one
            # that came while the connection opened): it would then run on.
            if not signalled.is_set():
                await worker.run()
    except (ConnectorException, psycopg.Error):
        log.exception("job queue %s: worker stopped", queue)
    return signalled.is_set()
