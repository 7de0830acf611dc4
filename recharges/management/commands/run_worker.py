"""The delivery worker: pending recharges to their operators.

Run one or more (`make run` starts one; several are safe: claims use
SKIP LOCKED). SIGTERM or Ctrl-C stops claiming, lets the calls in flight
finish and records them, then exits. Callback events go out from their own
process (`manage.py deliver_callbacks`), so a slow receiver never holds up
a delivery.
"""

import logging
import os
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from prometheus_client import multiprocess

from config.metrics import serve_metrics
from recharges.delivery import call_operator, claim_due, record_outcomes
from recharges.gateway import gateway_from_settings

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
BATCH_WINDOW_SECONDS = 0.02
CLAIM_LIMIT = 500


class Command(BaseCommand):
    help = "Delivers pending recharges to their operators."

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=settings.DELIVERY_CONCURRENCY)
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.WORKER_METRICS_PORT,
            help="Serve /metrics on this port (where the worker shares no metrics directory with a web server).",
        )

    def handle(self, *args, concurrency, metrics_port, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if metrics_port:
            serve_metrics(host=settings.WORKER_METRICS_HOST, port=metrics_port)
        self.stdout.write(f"Delivering recharges to {settings.OPERATOR_GATEWAY_URL}, {concurrency} calls at once")
        self.stdout.flush()
        _deliver_recharges(stop, concurrency)
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            multiprocess.mark_process_dead(os.getpid())


def _deliver_recharges(stop: threading.Event, concurrency: int) -> None:
    gateway = gateway_from_settings()
    lease = settings.OPERATOR_CONNECT_TIMEOUT + settings.OPERATOR_READ_TIMEOUT + 10
    inflight: set[Future] = set()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="operator") as pool:
        while inflight or not stop.is_set():
            try:
                # Claim when a quarter of the slots are free: fewer, larger claims.
                if not stop.is_set() and concurrency - len(inflight) >= max(1, concurrency // 4):
                    claims = claim_due(limit=min(concurrency - len(inflight), CLAIM_LIMIT), lease_seconds=lease)
                    inflight |= {pool.submit(call_operator, gateway, claim) for claim in claims}
                if not inflight:
                    stop.wait(POLL_SECONDS)
                    continue
                done, _ = wait(inflight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if done and len(done) < len(inflight) // 4:
                    # Fewer, larger write batches: what completes within a moment joins this one.
                    done |= wait(inflight - done, timeout=BATCH_WINDOW_SECONDS).done
                inflight -= done
                if done:
                    record_outcomes([future.result() for future in done])
            except DatabaseError:
                # The database went away: what was claimed and not recorded is
                # re-claimed after its lease and asked for by status.
                log.exception("delivery loop: database error; retrying")
                _reconnect(stop)
    gateway.close()


def _reconnect(stop: threading.Event) -> None:
    connection.close()
    stop.wait(1.0)
