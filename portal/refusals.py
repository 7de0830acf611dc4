"""A sale's business refusal (the API's 402 or 403 error body) in the words of
the page's language: the API's own message is English and for programs."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

_LIMITS = {
    "max_recharge_amount": gettext_lazy(
        "Not sold: a single recharge may be at most %(allowed)s rials, and this one is %(used)s rials."
    ),
    "daily_amount": gettext_lazy(
        "Not sold: your daily limit is %(allowed)s rials, %(used)s rials of it are already sold today, "
        "and this sale would pass it."
    ),
    "number_hourly_count": gettext_lazy(
        "Not sold: this number has reached its limit of recharges an hour (%(allowed)s; %(used)s in the last hour)."
    ),
}


def _rials(value: int) -> str:
    return f"{value:,}"


def refusal_message(error: dict) -> str:
    """{"code", "message", "details"} -> one sentence for the seller."""
    details = error.get("details") or {}
    if error["code"] == "limit_exceeded" and details.get("limit") in _LIMITS:
        text = str(_LIMITS[details["limit"]])
        counted = details["limit"] == "number_hourly_count"
        figures = {key: str(details[key]) if counted else _rials(details[key]) for key in ("allowed", "used")}
        return text % figures
    if error["code"] == "insufficient_balance":
        return _("Not sold: your balance of %(balance)s rials does not cover %(amount)s rials. Ask for a top-up.") % {
            "balance": _rials(details["balance"]),
            "amount": _rials(details["amount"]),
        }
    return _("Not sold: %(reason)s") % {"reason": error["message"]}
