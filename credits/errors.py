from config.errors import ApplicationError


class AlreadyDecided(ApplicationError):
    """Raised when approving a rejected credit request or rejecting an approved one."""

    status_code = 409
    code = "already_decided"
    message = "This credit request was already decided the other way."
