"""Error responses for the OpenAPI schema: every one has the contract's body."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse

from config.api import ErrorSerializer

_DESCRIPTIONS = {
    400: (
        "validation_error: malformed JSON or a body that is not JSON, wrong types, out-of-range amount, "
        "invalid phone number"
    ),
    401: "not_authenticated: missing or bad token",
    402: "insufficient_balance: the debit would make the balance negative; nothing was written",
    403: "permission_denied: the caller's role may not use this endpoint",
    404: "not_found: unknown id, or another seller's object",
    409: "already_decided: the credit request was already decided the other way",
    422: "idempotency_key_reused: the key was used for a different request",
    429: "throttled: rate limit exceeded; see Retry-After",
    503: (
        "service_unavailable: database unreachable or lock wait timed out; details.outcome is "
        "not_written, or unknown when the connection was lost with the write or its commit in flight "
        "(retry with the same Idempotency-Key)"
    ),
}


# The answers an Idempotency-Key stores and replays: the success and the
# business refusals (402, 403 limit_exceeded, 409 operator_unavailable).
_REPLAYED_STATUSES = {"201", "402", "403", "409"}
_RESPONSE_HEADERS = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answer replays the first request made with the same Idempotency-Key "
        "(nothing moved again); absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def response_headers(result, generator, request, public):
    """Schema post-processing hook: declares the contract's response headers,
    Retry-After on every 429 and 503, and Idempotent-Replayed on each answer
    an operation taking an Idempotency-Key may replay."""
    for operations in result["paths"].values():
        for operation in operations.values():
            keyed = any(
                (parameter["in"], parameter["name"]) == ("header", "Idempotency-Key")
                for parameter in operation.get("parameters", [])
            )
            for status, response in operation["responses"].items():
                if status in ("429", "503"):
                    response.setdefault("headers", {})["Retry-After"] = _RESPONSE_HEADERS["Retry-After"]
                if keyed and status in _REPLAYED_STATUSES:
                    response.setdefault("headers", {})["Idempotent-Replayed"] = _RESPONSE_HEADERS["Idempotent-Replayed"]
    return result


def errors(*statuses: int) -> dict:
    """`responses` entries for these error statuses of a token-authenticated
    operation. 429 and 503 are always added: failed authentication is
    throttled on every such operation (and sellers when SELLER_RATE_LIMIT is
    set), and any of them can find the database unreachable."""
    return {code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code]) for code in (*statuses, 429, 503)}


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Token <key>` for the project's own
    TokenAuthentication (spectacular only knows the library classes it wraps)."""

    target_class = "sellers.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token-based authentication with required prefix "Token"',
        }
