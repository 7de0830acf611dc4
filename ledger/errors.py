from config.errors import ApplicationError


class InsufficientBalance(ApplicationError):
    """Raised when a debit (recharge or negative adjustment) would make the
    balance negative; nothing was written."""

    status_code = 402
    code = "insufficient_balance"
    message = "The balance does not cover this debit; nothing was charged."
    replayed_with_key = True


class AlreadyPosted(ApplicationError):
    """Raised when a source (credit request, recharge, adjustment) already has
    its ledger entry: the database refused to post it a second time."""

    status_code = 409
    code = "already_decided"
    message = "This request has already moved money; it cannot do so again."


class AdjustmentDecided(ApplicationError):
    """Raised when a rejected adjustment is approved, or an applied one rejected."""

    status_code = 409
    code = "already_decided"
    message = "This adjustment was already applied or rejected; nothing changed."


class BalanceLimitExceeded(ApplicationError):
    """Raised when a credit would take the balance past the largest number
    PostgreSQL's bigint holds (2^63 - 1); refused before the database would
    fail, nothing was written."""

    status_code = 409
    code = "balance_limit_exceeded"
    message = "This credit would take the balance past the largest amount the ledger holds; nothing was written."
    replayed_with_key = True


class LimitExceeded(ApplicationError):
    """Raised when a sale would pass one of the seller's limits (max_recharge_amount,
    daily_amount, number_hourly_count); nothing was written."""

    status_code = 403
    code = "limit_exceeded"
    message = "This sale would pass one of your limits; nothing was charged."
    replayed_with_key = True


class SecondApproverRequired(ApplicationError):
    """Raised under four eyes when the staff member who approved first (or who
    made the adjustment) approves again, or when a seller's own user approves
    its request: a second, different staff member must."""

    status_code = 409
    code = "second_approver_required"
    message = "A second, different staff member must approve this."
