from config.errors import ApplicationError


class AlreadyFinal(ApplicationError):
    """Raised when staff resolve a recharge whose status is already final."""

    status_code = 409
    code = "already_decided"
    message = "This recharge is already final; its status cannot change."
