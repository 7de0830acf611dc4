from config.errors import ApplicationError


class IdempotencyKeyReused(ApplicationError):
    """Raised when an Idempotency-Key comes back with another body or on
    another endpoint than the request that first used it."""

    status_code = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request."


class IdempotencyInProgress(ApplicationError):
    """Raised when the first request with this key has not finished; repeats
    normally wait for it, so this is only seen if it never recorded a result."""

    status_code = 409
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."
