"""The delivery worker: pending recharges to their operators.

procrastinate's worker on the `delivery` queue, running the delivery job
(recharges/tasks.py), woken by the sales' NOTIFY. Run one or more (`make run`
starts one; several are safe: claims use SKIP LOCKED). SIGTERM or Ctrl-C lets
the running job finish its calls and record them (at most a few seconds),
then exits. Callback events go out from their own worker (`manage.py
deliver_callbacks`), so a slow receiver never holds up a delivery.
"""

import os

from django.conf import settings
from django.core.management.base import BaseCommand
from prometheus_client import multiprocess

from callbacks.jobs import run_worker
from config.metrics import serve_metrics
from recharges.tasks import QUEUE


class Command(BaseCommand):
    help = "Delivers pending recharges to their operators (DELIVERY_CONCURRENCY calls at once)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.WORKER_METRICS_PORT,
            help="Serve /metrics on this port (where the worker shares no metrics directory with a web server).",
        )

    def handle(self, *args, metrics_port, **options):
        if metrics_port:
            serve_metrics(host=settings.WORKER_METRICS_HOST, port=metrics_port)
        self.stdout.write(
            f"Delivering recharges to {settings.OPERATOR_GATEWAY_URL}, {settings.DELIVERY_CONCURRENCY} calls at once"
        )
        self.stdout.flush()
        run_worker(QUEUE)
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            multiprocess.mark_process_dead(os.getpid())
