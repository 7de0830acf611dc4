from config.errors import ApplicationError


class AlreadyFinal(ApplicationError):
    """Raised when staff resolve a recharge whose status is already final."""

    status_code = 409
    code = "already_decided"
    message = "This recharge is already final; its status cannot change."


class RefundNotWritable(ApplicationError):
    """Raised when a recharge cannot become failed because its refund cannot
    be written (the ledger refuses it); nothing was written."""

    status_code = 409
    code = "refund_not_writable"
    message = (
        "Its refund would take the seller's balance past the largest amount the ledger holds; nothing was written."
        " Lower the balance with an adjustment, then resolve it as failed."
    )
