"""Database outages outside DRF get the contract's 503 too.

DRF views already turn `OperationalError`/`InterfaceError` into 503
`service_unavailable` (config.exceptions). Everything else Django serves —
the admin, and any middleware that touches the database (sessions, auth) —
would let the error reach Django's 500 handler: a 500 "internal_error" for
what is an outage, which the contract says is never a 500.
"""

import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError

from config.errors import ServiceUnavailable
from config.exceptions import error_response

_DATABASE_DOWN = (OperationalError, InterfaceError)
_FLAG = "_database_unavailable"


def service_unavailable():
    return error_response(ServiceUnavailable())


class DatabaseUnavailableMiddleware:
    """Answers 503 service_unavailable (with Retry-After) when the database
    is unreachable or a lock wait timed out, wherever below this middleware
    the error was raised: in a view (`process_exception`) or in a middleware
    listed after this one (Django has already made that a 500 response; the
    `got_request_exception` signal tells us why, and the 500 is replaced)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, _FLAG, False):
            return service_unavailable()
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, _DATABASE_DOWN):
            return service_unavailable()
        return None


def _remember_database_errors(sender, request=None, **kwargs):
    if request is not None and isinstance(sys.exc_info()[1], _DATABASE_DOWN):
        setattr(request, _FLAG, True)


got_request_exception.connect(_remember_database_errors, dispatch_uid="config.middleware.database_unavailable")
