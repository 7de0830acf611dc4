"""Delivers callback events as they fall due, until stopped.

Sleeps until the next retry is due or a committed event sends
`NOTIFY callbacks_due`, whichever comes first. Any number may run at once
(processes, machines): each due event goes to one of them.
"""

import time

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, connection

from callbacks.services import NOTIFY_CHANNEL, deliver_due_events, seconds_until_next_due
from config.metrics import serve_metrics

# Also the longest wait should a notification be missed (one sent between the
# check for due events and the wait): the contract's first attempt comes
# within 5 s of the commit.
IDLE_SECONDS = 2


class Command(BaseCommand):
    help = "Delivers due callback events until stopped (Ctrl-C)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
        parser.add_argument("--max-workers", type=int, default=16, help="POSTs in flight at once")

    def handle(self, *args, once, max_workers, **options):
        if settings.WORKER_METRICS_PORT and not once:
            serve_metrics(host=settings.WORKER_METRICS_HOST, port=settings.WORKER_METRICS_PORT)
        if once:
            self.stdout.write(f"{deliver_due_events(max_workers=max_workers)} attempts")
            return
        try:
            while True:
                try:
                    self._deliver_then_wait(max_workers)
                # The database restarted: reconnect and go on. psycopg's own error comes
                # from waiting for notifications, which Django does not wrap.
                except (OperationalError, InterfaceError, psycopg.Error) as error:
                    self.stderr.write(f"database unavailable, retrying in 1 s: {error}")
                    connection.close()
                    time.sleep(1)
        except KeyboardInterrupt:
            pass

    def _deliver_then_wait(self, max_workers: int) -> None:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
        self.stdout.write(f"Delivering callbacks; listening on {NOTIFY_CHANNEL}")
        while True:
            deliver_due_events(max_workers=max_workers)
            due_in = seconds_until_next_due()
            timeout = IDLE_SECONDS if due_in is None else min(due_in, IDLE_SECONDS)
            if timeout > 0:
                # Django's connection is psycopg's: it receives the notifications too.
                for _ in connection.connection.notifies(timeout=timeout, stop_after=1):
                    pass
