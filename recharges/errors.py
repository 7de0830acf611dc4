from config.errors import ApplicationError, InvalidInput


class AlreadyFinal(ApplicationError):
    """Raised when staff resolve a recharge whose status is already final."""

    status_code = 409
    code = "already_decided"
    message = "This recharge is already final; its status cannot change."


class DeliveryInProgress(ApplicationError):
    """Raised when staff resolve a recharge whose top-up was sent and whose
    outcome the delivery worker is still asking the operator for: the
    operator may yet deliver it, and a failure's refund would pay twice."""

    status_code = 409
    code = "delivery_in_progress"
    message = "Its top-up was sent and its outcome is still being asked; it waits for staff past the horizon."


class RefundNotWritable(ApplicationError):
    """Raised when a recharge cannot become failed because its refund cannot
    be written (the ledger refuses it); nothing was written."""

    status_code = 409
    code = "refund_not_writable"
    message = (
        "Its refund would take the seller's balance past the largest amount the ledger holds; nothing was written."
        " Lower the balance with an adjustment, then resolve it as failed."
    )


class OperatorRefusal(InvalidInput):
    """Raised when the operator does not take a sale (recharges/sql/operator_refusal.sql:
    unknown or disabled, an amount it does not sell, a package not its own):
    the 400's details word it for the API, and `refusal` keeps the refusal
    itself for the pages, which word it in their own language."""

    def __init__(self, refusal: dict, *, details: dict):
        super().__init__(details=details)
        self.refusal = refusal


class OperatorUnavailable(ApplicationError):
    """Raised when a sale's operator float (tracked), less what is already
    pending delivery to that operator, cannot cover the sale
    (recharges/sql/operator_float_reserve.sql); nothing was written."""

    status_code = 409
    code = "operator_unavailable"
    message = "The operator cannot take this sale now; nothing was charged. Try again later."
    replayed_with_key = True


class FloatNotCovering(ApplicationError):
    """Raised when a loss written off an operator float would take it below
    zero: staff record the prepayment that covers it first; nothing was written."""

    status_code = 409
    code = "float_not_covering"
    message = "The operator's float does not cover this loss; record a prepayment first. Nothing was written."
