from config.errors import ApplicationError


class AlreadyDecided(ApplicationError):
    """Raised when approving a rejected credit request or rejecting an approved one."""

    status_code = 409
    code = "already_decided"
    message = "This credit request was already decided the other way."


class ReceiptAlreadyUsed(ApplicationError):
    """Raised when a bank's tracking number is already on a pending or approved
    credit request (anyone's), or when approving would make it fund a second
    request (the database's credit_request_receipt_approved_once)."""

    status_code = 409
    code = "receipt_already_used"
    message = "This bank transfer's tracking number is already on another credit request."
