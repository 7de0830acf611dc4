"""Prometheus metrics, shared by every process of the service.

gunicorn runs several worker processes, so counters live in
`prometheus_client`'s multiprocess mode: each process writes its values to
memory-mapped files in PROMETHEUS_MULTIPROC_DIR, and `/metrics` (any worker)
adds them up. The launchers set that directory before this module is first
imported (gunicorn.conf.py; the Makefile's `run` for every process of the
Procfile); without it (tests, a shell) the values stay in the process, as
plain prometheus_client does.

The queue gauges are not kept by anyone: they are read from the database at
scrape time (one query on the `recharge_due` partial index), so they are
right however many workers run, or none.

Recording costs a few microseconds (loadtests/observability_cost.py); the
sale's counters are resolved once here, not per request.
"""

import hmac
import ipaddress
import math
import os
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.db import connection
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

# Seconds; a sale takes ~1-2 ms, a listing tens of ms, a timeout 10 s.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter(
    "recharge_http_requests_total",
    "HTTP requests by route (URL pattern), method and status.",
    ["route", "method", "status"],
)
# Every label value comes from a fixed set, never as a client sent it: each
# distinct value is a time series (and, in multiprocess mode, file space in
# every process) for as long as the processes run. The route is a URL pattern
# of the URL conf, the status one the service chose; the method is one of
# these or "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def method_label(method: str | None) -> str:
    return method if method in HTTP_METHODS else "other"


REQUEST_LATENCY = Histogram(
    "recharge_http_request_duration_seconds", "Time to answer a request, by route.", ["route"], buckets=_LATENCY_BUCKETS
)
SALES = Counter(
    "recharge_sales_total",
    "Sale requests (single, batch) by outcome: created (201), replay, insufficient_balance (402),"
    " refused (other 4xx), unavailable (503), error (other 5xx).",
    ["kind", "outcome"],
)
LEDGER_POSTINGS = Counter(
    "recharge_ledger_postings_total",
    "Committed ledger entries other than sales, by kind (credit, adjustment, refund).",
    ["kind"],
)
LEDGER_POSTED_RIALS = Counter(
    "recharge_ledger_posted_rials_total",
    "Rials of those entries, by kind and direction (in, out).",
    ["kind", "direction"],
)


def count_posting(*, kind: str, amount: int) -> None:
    """Counts a committed credit, adjustment or refund (sales are counted as requests)."""
    LEDGER_POSTINGS.labels(kind).inc()
    LEDGER_POSTED_RIALS.labels(kind, "in" if amount > 0 else "out").inc(abs(amount))


DELIVERIES = Counter(
    "recharge_deliveries_total",
    "Operator answers by result: successful, failed (definite), unknown (status query later).",
    ["result"],
)
OPERATOR_LATENCY = Histogram(
    "recharge_operator_call_duration_seconds",
    "Time of one call to an operator, by operator and call (topup, status).",
    ["operator", "call"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_SALE_OUTCOMES = {201: "created", 402: "insufficient_balance", 503: "unavailable"}
# Resolved once: per sale, counting is a dict lookup and one increment.
_SALE_COUNTERS = {
    (kind, outcome): SALES.labels(kind, outcome)
    for kind in ("single", "batch")
    for outcome in ("created", "replay", "insufficient_balance", "refused", "unavailable", "error")
}


def count_sale(kind: str, response) -> None:
    """Counts a sale request (kind "single" or "batch") by its response."""
    if response.has_header("Idempotent-Replayed"):
        outcome = "replay"
    else:
        code = response.status_code
        outcome = _SALE_OUTCOMES.get(code) or ("refused" if code < 500 else "error")
    _SALE_COUNTERS[kind, outcome].inc()


CALLBACKS = Counter(
    "recharge_callback_attempts_total",
    "Callback attempts by result: delivered, failed (will retry), abandoned.",
    ["result"],
)

_QUEUE_SQL = """
SELECT count(*) FILTER (WHERE next_attempt_at <= now()),
       count(*) FILTER (WHERE next_attempt_at IS NULL),
       coalesce(extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())), 0)::float8
  FROM recharges_recharge
 WHERE status = 'pending'
"""


def delivery_queue() -> tuple[int, int, float]:
    """(due pending recharges, pending ones past the horizon waiting for
    staff, seconds the oldest due one has waited): one indexed query."""
    with connection.cursor() as cursor:
        cursor.execute(_QUEUE_SQL)
        due, awaiting_staff, oldest = cursor.fetchone()
    return due, awaiting_staff, oldest


class _QueueCollector:
    def collect(self):
        due, awaiting_staff, oldest = delivery_queue()
        yield GaugeMetricFamily("recharge_delivery_queue_due", "Pending recharges due for a call to the operator.", due)
        yield GaugeMetricFamily(
            "recharge_delivery_queue_awaiting_staff",
            "Pending recharges past the horizon, waiting for staff.",
            awaiting_staff,
        )
        yield GaugeMetricFamily(
            "recharge_delivery_queue_oldest_due_seconds", "How long the oldest due pending recharge has waited.", oldest
        )


class _FloatCollector:
    """Each tracked operator float (recharges/sql/operator_float_state.sql),
    read from the database at scrape time like the queue gauges."""

    def collect(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT operator, available, pending, hours_left, alert_below_hours FROM operator_float_state()"
            )
            rows = cursor.fetchall()
        names = {
            "available": (
                "recharge_operator_float_available_rials",
                "Float at the operator less what is pending on it.",
            ),
            "pending": ("recharge_operator_float_pending_rials", "Float reserved by sales not yet final."),
            "hours_left": (
                "recharge_operator_float_hours_left",
                "Hours the available float lasts at the last hour's burn rate (+Inf when nothing was drawn).",
            ),
            "alert_below": ("recharge_operator_float_alert_below_hours", "Hours left under which staff are warned."),
        }
        families = {key: GaugeMetricFamily(name, text, labels=["operator"]) for key, (name, text) in names.items()}
        for operator, available, pending, hours_left, alert_below in rows:
            families["available"].add_metric([operator], available)
            families["pending"].add_metric([operator], pending)
            families["hours_left"].add_metric([operator], math.inf if hours_left is None else hours_left)
            families["alert_below"].add_metric([operator], alert_below)
        yield from families.values()


# Apart from the process registry: nothing registers or unregisters per
# scrape (concurrent scrapes in threads), and nothing queries at registration.
_QUEUE_REGISTRY = CollectorRegistry()
_QUEUE_REGISTRY.register(_QueueCollector())
_QUEUE_REGISTRY.register(_FloatCollector())


def exposition() -> bytes:
    """The text format of every process's metrics and the queue gauges."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_QUEUE_REGISTRY)


def scrape_allowed(meta: dict) -> bool:
    """With METRICS_TOKEN set: only `Authorization: Bearer <token>`.
    Without it: only from the machine itself, and never in production."""
    token = settings.METRICS_TOKEN
    if token:
        given = meta.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if settings.PRODUCTION:
        return False
    try:
        return ipaddress.ip_address(meta.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def serve_metrics(*, host: str, port: int) -> WSGIServer:
    """Serves /metrics (same rules as the web's) from a daemon thread, for a
    process without a web server: the delivery worker in its own container."""

    def app(environ, start_response):
        if not scrape_allowed(environ):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Metrics need the scrape token.\n"]
        try:
            body = exposition()
        finally:
            connection.close()  # this thread's own connection; a scrape every few seconds needs no pool
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # scrapes are not worth a log line each
        pass
