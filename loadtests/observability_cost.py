"""What the observability middleware adds to each request, in microseconds.

Times, in one process and in prometheus_client's multiprocess mode (as under
gunicorn), the work the middleware does per request besides calling the view:
request id, contextvars, the request counter and histogram, the sale counter
and the log line (rendered as JSON into /dev/null).

    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) LOG_FORMAT=json .venv/bin/python -m loadtests.observability_cost
"""

import os
import sys
import timeit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import structlog  # noqa: E402
from django.http import HttpResponse  # noqa: E402

from config.metrics import REQUEST_LATENCY, REQUESTS, count_sale  # noqa: E402
from config.observability import log, request_id_from  # noqa: E402

ROUTE = "api/v1/recharges/"
N = 20_000


def main() -> None:
    response = HttpResponse(status=201)
    # The log line's destination (structlog holds the stdout it was configured with).
    saved = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)

    def request_id():
        structlog.contextvars.bind_contextvars(request_id=request_id_from(None))
        structlog.contextvars.unbind_contextvars("request_id")

    def metrics():
        REQUESTS.labels(ROUTE, "POST", 201).inc()
        REQUEST_LATENCY.labels(ROUTE).observe(0.0015)
        count_sale("single", response)

    def log_line():
        log.info("request", method="POST", route=ROUTE, path="/api/v1/recharges/", status=201, duration_ms=1.52)

    results = {
        name: min(timeit.repeat(step, number=N, repeat=5)) / N * 1e6
        for name, step in [("request id", request_id), ("metrics", metrics), ("log line", log_line)]
    }
    sys.stdout.flush()
    os.dup2(saved, 1)
    mode = "multiprocess" if "PROMETHEUS_MULTIPROC_DIR" in os.environ else "single process"
    print(f"per request ({mode}, LOG_FORMAT={os.environ.get('LOG_FORMAT', 'default')}):")
    for name, micros in results.items():
        print(f"  {name:12} {micros:6.1f} us")
    print(f"  {'total':12} {sum(results.values()):6.1f} us")


if __name__ == "__main__":
    main()
