"""The base of every domain error and the contract's error body; services
import this module, never `config.exceptions` (the HTTP handler), so a
stored refusal (idempotency) has the same body as an answered one."""

import logging

from django.core.exceptions import SuspiciousOperation

log = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Base class: a refusal the client can understand and act on."""

    status_code = 400
    code = "application_error"
    message = "The request was refused."
    # Business refusals are stored with an Idempotency-Key and replayed, as
    # Stripe does; errors in the request itself are not.
    replayed_with_key = False

    def __init__(self, message: str | None = None, *, details: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details


class ServiceUnavailable(ApplicationError):
    """Raised when the database cannot be reached or a lock wait timed out
    and the service knows nothing was written; the client may retry."""

    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable; nothing was written. Retry shortly."
    outcome = "not_written"

    def __init__(self, message: str | None = None):
        super().__init__(message, details={"outcome": self.outcome})


class OutcomeUnknown(ServiceUnavailable):
    """Raised when the connection to the database was lost while a write or
    its commit was in flight: the write may have committed."""

    message = (
        "The connection to the database was lost while this request was being written; it may have been "
        "committed. Retry with the same Idempotency-Key (a committed request is then replayed, not repeated), "
        "or look the key up with ?idempotency_key=."
    )
    outcome = "unknown"


# SQLSTATE classes of errors after which the server is gone, or going, with
# the connection: whatever was in flight, the commit included, may have
# happened. Any other error the server reported (a lock or statement
# timeout, a deadlock, a serialization failure) means it rolled back.
_CONNECTION_LOST = ("08", "57P01", "57P02", "57P03")
_STATEMENT_SENT = "_database_statement_sent"


def note_statements(request):
    """A database execute wrapper (`connection.execute_wrapper`) that marks
    the request once it has sent a statement."""

    def wrapper(execute, sql, params, many, context):
        setattr(request, _STATEMENT_SENT, True)
        return execute(sql, params, many, context)

    return wrapper


def refuse_unstorable_text(execute, sql, params, many, context):
    """A database execute wrapper that raises UnstorableText before a query
    carries a string PostgreSQL cannot hold: wherever a request's text goes
    (a body field, a filter, a cookie), it is refused there, once for all."""
    if params is not None and _unstorable(params):
        raise UnstorableText()
    return execute(sql, params, many, context)


def _unstorable(value) -> bool:
    if isinstance(value, str):
        # A NUL: psycopg refuses it. A lone surrogate: it has no UTF-8 encoding.
        return "\x00" in value or (not value.isascii() and _has_surrogate(value))
    if isinstance(value, (list, tuple)):
        return any(_unstorable(item) for item in value)
    if isinstance(value, dict):
        return any(_unstorable(item) for item in value.values())
    return False


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def database_outage(request, error) -> ServiceUnavailable:
    """The 503 for a database error that ended `request`: OutcomeUnknown if
    the request may have written (it is not a read, it had sent statements,
    and the connection was lost rather than the statement refused), else
    ServiceUnavailable (nothing was written)."""
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    lost = sqlstate is None or sqlstate.startswith(_CONNECTION_LOST)
    may_have_written = request.method not in ("GET", "HEAD", "OPTIONS") and getattr(request, _STATEMENT_SENT, False)
    # An operator needs the cause (a lock timeout, a refused connection) that the client's 503 leaves out.
    log.warning("503 for %s %s: database error %s: %s", request.method, request.path, sqlstate, str(error).strip())
    return OutcomeUnknown() if lost and may_have_written else ServiceUnavailable()


class InvalidInput(ApplicationError):
    """Raised by a service for input only the database could judge, such as
    a username taken by a concurrent request."""

    status_code = 400
    code = "validation_error"
    message = "The request is invalid; see details."


class UnstorableText(InvalidInput, SuspiciousOperation):
    """Raised (by refuse_unstorable_text) when a request's text holds a NUL
    character or a lone surrogate, which PostgreSQL cannot store or compare.
    A DRF view answers it as any InvalidInput; elsewhere, as a
    SuspiciousOperation, Django answers 400, and a session store reading a
    session key treats the key as no session."""

    message = "Text may not contain NUL characters or unpaired surrogates."


def violated_constraint(error) -> str | None:
    """The name of the constraint a database IntegrityError broke, if any."""
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The contract's error body, `{"error": {"code", "message", "details"?}}`."""
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}
