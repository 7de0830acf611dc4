from config.errors import ApplicationError


class IdempotencyKeyReused(ApplicationError):
    """Raised when an Idempotency-Key comes back with another body or on
    another endpoint than the request that first used it."""

    status_code = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request."
