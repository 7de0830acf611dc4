"""Every request: a request id, its metrics, and one log line.

First in MIDDLEWARE, so it times and counts what every other layer does,
including the 503 that DatabaseUnavailableMiddleware makes of an outage.
The request id is the client's `X-Request-ID` when it is short visible
ASCII (a proxy or a terminal can then follow its own id through our logs),
else a new one; it is bound to every log line the request writes and given
back in the response's `X-Request-ID`.

The route label is the URL pattern (`api/v1/recharges/<int:recharge_id>/`),
never the raw path: one time series per endpoint, not per recharge; the
method label is a standard method or "other" (config.metrics.method_label).
"""

import time
import uuid

import structlog

from config.metrics import REQUEST_LATENCY, REQUESTS, method_label

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 64
UNMATCHED_ROUTE = "<unmatched>"

log = structlog.get_logger("request")


def request_id_from(value: str | None) -> str:
    """The client's id if it is 1-64 visible ASCII characters, else a new one."""
    if value and len(value) <= REQUEST_ID_MAX_LENGTH and value.isascii() and value.isprintable() and " " not in value:
        return value
    return uuid.uuid4().hex


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            match = request.resolver_match
            route = match.route if match is not None else UNMATCHED_ROUTE
            REQUESTS.labels(route, method_label(request.method), response.status_code).inc()
            REQUEST_LATENCY.labels(route).observe(elapsed)
            response[REQUEST_ID_HEADER] = request_id
            log.info(
                "request",
                method=request.method,
                route=route,
                path=request.path,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 2),
            )
            return response
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
