"""The base of every domain error and the contract's error body; services
import this module, never `config.exceptions` (the HTTP handler), so a
stored refusal (idempotency) has the same body as an answered one."""


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
    """Raised when the database cannot be reached or a lock wait timed out;
    nothing was written and the client may retry."""

    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable; nothing was written. Retry shortly."


class InvalidInput(ApplicationError):
    """Raised by a service for input only the database could judge, such as
    a username taken by a concurrent request."""

    status_code = 400
    code = "validation_error"
    message = "The request is invalid; see details."


def violated_constraint(error) -> str | None:
    """The name of the constraint a database IntegrityError broke, if any."""
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The contract's error body, `{"error": {"code", "message", "details"?}}`."""
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}
