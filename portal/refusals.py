"""Why a sale was refused, or why a recharge failed, in the words of the
page's language: the API's messages are English and for programs, and name
operators and packages by their codes."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.errors import ApplicationError, OutcomeUnknown, ServiceUnavailable
from recharges.models import Recharge

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


# A failed recharge's reason, by the failure's code. The stored message also
# says the amount was refunded, which the pages show apart, with the balance.
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
    if error["code"] == "operator_unavailable":
        return _("Not sold: the operator cannot take top-ups now; nothing was charged. Try again later.")
    return _("Not sold: %(reason)s") % {"reason": error["message"]}


def error_message(error: ApplicationError) -> str:
    """Why a sale was not answered (an error the sale service raised, not a
    refusal it stored), for the seller."""
    if error.code == "idempotency_key_reused":
        return _("Not sold: this form was already sent for another sale. Check the list below, then sell again.")
    if isinstance(error, OutcomeUnknown):
        return _(
            "The connection was lost during the sale: it may have gone through. Check the list below before selling again."
        )
    if isinstance(error, ServiceUnavailable):
        return _("Not sold: the service is busy and nothing was written. Try again in a moment.")
    return _("Not sold: %(reason)s") % {"reason": error.message}


def operator_refusal_errors(refusal: dict, *, operators: dict[str, str], products: dict[str, str]) -> dict:
    """A sale the operator does not take (recharges.errors.OperatorRefusal's
    `refusal`) as the sale form's field errors, naming operators and packages
    by the names the form lists (`operators`, `products`: {code: name})."""
    problem = refusal["problem"]
    codes = {key: refusal.get(key) or "" for key in ("operator", "product", "product_operator")}
    names = {
        "operator": operators.get(codes["operator"], codes["operator"]),
        "product": products.get(codes["product"], codes["product"]),
        "product_operator": operators.get(codes["product_operator"], codes["product_operator"]),
    }
    if problem == "unknown":
        return {"operator": [_("%(operator)s is not an operator we sell.") % names]}
    if problem == "disabled":
        return {"operator": [_("%(operator)s is not taking top-ups now.") % names]}
    if problem == "denomination":
        # Translators: between amounts in a list; Persian writes its own comma.
        amounts = _(", ").join(_rials(amount) for amount in refusal["denominations"])
        text = _("%(operator)s sells airtime only in these amounts (rials): %(amounts)s.")
        return {"amount": [text % {**names, "amounts": amounts}]}
    if problem == "amount":
        figures = {"min": _rials(refusal["min_amount"]), "max": _rials(refusal["max_amount"])}
        return {"amount": [_("%(operator)s takes amounts from %(min)s to %(max)s rials.") % {**names, **figures}]}
    if problem in ("product_unknown", "product_disabled"):
        return {"product": [_("The package %(product)s is not on sale now.") % names]}
    if problem == "product_operator":
        return {"product": [_("%(product)s is a package of %(product_operator)s, not of %(operator)s.") % names]}
    # product_amount: the amount sent is not the package's.
    text = _("%(product)s costs %(amount)s rials; leave the amount empty.")
    return {"amount": [text % {**names, "amount": _rials(refusal["amount"])}]}


def failure_reason(failure: dict | None) -> str:
    """A failed recharge's reason (its body's `failure`) in the page's
    language; an unknown code keeps the stored message."""
    if not failure:
        return ""
    reason = Recharge.FAILURE_REASONS.get(failure["code"])
    return failure["message"] if reason is None else str(reason)
