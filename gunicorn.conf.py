"""gunicorn settings for the API; every value can be overridden from the environment."""

import os
import shutil
import tempfile
from pathlib import Path

from config.embedded_postgres import use_database_url
from config.http_errors import answer_server_errors_in_json
from config.workers import workers as configured_workers

# Requests gunicorn refuses itself (too long, malformed) get the contract's JSON body too.
answer_server_errors_in_json()

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# WEB_CONCURRENCY, else CPUs + 1 (config/workers.py). With PostgreSQL on its
# own machine, workers wait longer per sale: raise it.
workers = configured_workers()
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
# Threads per worker for worker_class "gthread" (make bench compares it).
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A request that runs longer than this is killed and its worker replaced; the
# database's statement_timeout (10 s by default) fires well before.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM lets in-flight requests finish for this long.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT") or os.environ.get("GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Worker recycling, off by default: a worker is replaced after this many
# requests (plus up to 10 % jitter so they do not all restart at once).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# gunicorn 27's control socket is one path per user by default: several
# servers on one machine (tests, benchmarks) would remove each other's.
control_socket_disable = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or os.environ.get("ACCESS_LOG") or None
errorlog = "-"

# Without DATABASE_URL, the master starts the embedded PostgreSQL (refused in
# production) and keeps it until it exits; workers inherit its URL.
use_database_url(Path(__file__).resolve().parent / ".pgdata")

# Every worker process writes its metrics to files in this directory and
# /metrics sums them (config/metrics.py). It must be set before a worker
# imports prometheus_client, and hold no other run's files: a launcher that
# shares it with the delivery worker (the Makefile's `run`) empties it first;
# else each server gets a fresh one, removed when it exits.
_own_metrics_dir = None
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="recharge-metrics-")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
