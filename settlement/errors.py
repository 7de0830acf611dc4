from config.errors import ApplicationError


class CaseAlreadyResolved(ApplicationError):
    """Raised when staff resolve a settlement case already resolved; nothing is written."""

    status_code = 409
    code = "already_decided"
    message = "This case is already resolved."
