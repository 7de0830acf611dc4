"""Delivers callback events as they fall due, until stopped.

procrastinate's worker on the `callbacks` queue, running the callback job
(callbacks/tasks.py): woken by the NOTIFY of a committed event, by a retry
falling due and by the periodic sweep. Any number may run at once
(processes, machines): each due event goes to one of them.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from callbacks.jobs import run_worker
from callbacks.sender import deliver_due_events
from callbacks.tasks import POSTS_IN_FLIGHT, QUEUE, sender
from config.metrics import serve_metrics


class Command(BaseCommand):
    help = "Delivers due callback events until stopped (Ctrl-C)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="deliver what is due now, then exit")

    def handle(self, *args, once, **options):
        if once:
            self.stdout.write(f"{deliver_due_events(max_workers=POSTS_IN_FLIGHT)} attempts")
            return
        if settings.WORKER_METRICS_PORT:
            serve_metrics(host=settings.WORKER_METRICS_HOST, port=settings.WORKER_METRICS_PORT)
        self.stdout.write(f"Delivering callbacks from the job queue '{QUEUE}'")
        self.stdout.flush()
        run_worker(QUEUE)
        sender().finish()  # the attempts the last job left in flight
