"""One exception handler: every error leaves as the contract's body,
`{"error": {"code", "message", "details"?}}`."""

import math

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions

from config.errors import ApplicationError, database_outage, error_body

RETRY_AFTER_SECONDS = "1"

_DRF_CODES = [
    (exceptions.ValidationError, "validation_error"),
    (exceptions.ParseError, "validation_error"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.Throttled, "throttled"),
]


def error_response(error: ApplicationError) -> JsonResponse:
    """The contract's error response for a domain error, outside DRF."""
    response = JsonResponse(error_body(error.code, error.message, error.details), status=error.status_code)
    if error.status_code == 503:
        response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def exception_handler(exc, context):
    if isinstance(exc, (OperationalError, InterfaceError)):
        # Connection lost, statement or lock timeout: 503, saying whether it may have been written.
        exc = database_outage(context["request"], exc)
    elif isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        # A body the API cannot read is the contract's 400, as malformed JSON is.
        exc = exceptions.ParseError(f"{exc.detail} Send the body as JSON, with Content-Type: application/json.")
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )

    if isinstance(exc, ApplicationError):
        return error_response(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handler answers

    code = next((code for kind, code in _DRF_CODES if isinstance(exc, kind)), "error")
    # Plain JSON, never through a view's renderers: error bodies are JSON even
    # on the schema (YAML) and docs (HTML) views.
    response = JsonResponse(_drf_body(exc, code), status=exc.status_code)
    auth_header = getattr(exc, "auth_header", None)  # NotAuthenticated, AuthenticationFailed
    if auth_header:
        response["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)  # Throttled
    if wait is not None:
        response["Retry-After"] = str(max(1, math.ceil(wait)))  # the seconds its message names
    return response


def _drf_body(exc, code: str) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_body(code, "The request is invalid; see details.", details)
    return error_body(code, str(exc.detail))
