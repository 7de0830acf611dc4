"""Database outages outside DRF get the contract's 503 too.

DRF views already turn `OperationalError`/`InterfaceError` into 503
`service_unavailable` (config.exceptions). Everything else Django serves —
the admin, and any middleware that touches the database (sessions, auth) —
would let the error reach Django's 500 handler: a 500 "internal_error" for
what is an outage, which the contract says is never a 500.

For the same reason every query a request makes is checked for text
PostgreSQL cannot hold (a NUL, a lone surrogate: config.errors.UnstorableText),
wherever the text came from: a 400, never the driver's error as a 500.
"""

import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError, connection

from config.errors import database_outage, note_statements, refuse_unstorable_text
from config.exceptions import error_response

_DATABASE_DOWN = (OperationalError, InterfaceError)
_FLAG = "_database_unavailable"


class DatabaseUnavailableMiddleware:
    """Answers 503 service_unavailable (with Retry-After) when the database
    is unreachable or a lock wait timed out, wherever below this middleware
    the error was raised: in a view (`process_exception`) or in a middleware
    listed after this one (Django has already made that a 500 response; the
    `got_request_exception` signal tells us why, and the 500 is replaced).

    The 503 says whether the request may have been written (config.errors.
    database_outage); to know, it notes whether the request sent a statement.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Outermost, the text check: a refused query was never sent.
        with connection.execute_wrapper(refuse_unstorable_text), connection.execute_wrapper(note_statements(request)):
            response = self.get_response(request)
        error = getattr(request, _FLAG, None)
        if response.status_code == 500 and error is not None:
            return error_response(database_outage(request, error))
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, _DATABASE_DOWN):
            return error_response(database_outage(request, exception))
        return None


def _remember_database_errors(sender, request=None, **kwargs):
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, _DATABASE_DOWN):
        setattr(request, _FLAG, error)


got_request_exception.connect(_remember_database_errors, dispatch_uid="config.middleware.database_unavailable")
