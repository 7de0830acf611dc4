"""Which operator serves a number, and the words for an operator's refusal.

Detection uses Google's libphonenumber carrier data (the `phonenumbers`
package); a number it names no carrier for goes to settings.DEFAULT_OPERATOR.
Whether an operator takes a top-up (enabled, amount in range or one of its
denominations, a package of its own) is judged by the sale statement itself
(recharges/sql/operator_refusal.sql); refusal_errors words its answer.
"""

import phonenumbers
from django.conf import settings
from phonenumbers import carrier
from phonenumbers.carrierdata import CARRIER_DATA

# The contract's operators, as the migration that created them left them.
DEFAULT_OPERATORS = [
    ("mci", "MCI (Hamrah-e Aval)"),
    ("irancell", "Irancell"),
    ("rightel", "Rightel"),
    ("mtce", "MTCE (Espadan)"),
    ("telekish", "TeleKish"),
    ("aptel", "Aptel"),
]
# The names Iranian customers know them by (recharges migration 0019 sets them).
PERSIAN_NAMES = {
    "mci": "همراه اول",
    "irancell": "ایرانسل",
    "rightel": "رایتل",
    "mtce": "اسپادان",
    "telekish": "تله‌کیش",
    "aptel": "آپتل",
}
CARRIER_CODES = {
    "IR-MCI": "mci",
    "Irancell": "irancell",
    "Rightel": "rightel",
    "MTCE": "mtce",
    "TeleKish": "telekish",
    "Aptel": "aptel",
}


# libphonenumber names Iran's carriers by number prefixes of at most this many
# characters of the E.164 form, so every assigned mobile number (what to_e164
# admits) sharing them has the same carrier: one lookup (~50 us) per prefix,
# not per customer.
CARRIER_PREFIX_LENGTH = 1 + max(len(prefix) for prefix in CARRIER_DATA if prefix.startswith("98"))
_OPERATOR_BY_PREFIX: dict[str, str] = {}


def detect_operator(e164: str) -> str:
    """The code of the operator serving this E.164 mobile number."""
    prefix = e164[:CARRIER_PREFIX_LENGTH]
    operator = _OPERATOR_BY_PREFIX.get(prefix)
    if operator is None:
        name = carrier.name_for_number(phonenumbers.parse(e164), "en")
        if name not in CARRIER_CODES:  # no carrier named for it: not cached, the setting may change
            return settings.DEFAULT_OPERATOR
        operator = _OPERATOR_BY_PREFIX[prefix] = CARRIER_CODES[name]
    return operator


def refusal_errors(refusal: dict) -> dict[str, list[str]]:
    """Field errors for an operator_refusal (see its SQL): the validation_error's details."""
    problem = refusal["problem"]
    if problem.startswith("product_"):
        return _product_errors(refusal)
    code = refusal["operator"]
    if problem == "unknown":
        return {"operator": [f'Unknown operator "{code}"; GET /api/v1/operators/ lists them.']}
    if problem == "disabled":
        return {"operator": [f'Operator "{code}" is not taking top-ups now.']}
    if problem == "denomination":
        amounts = ", ".join(str(amount) for amount in refusal["denominations"])
        return {"amount": [f'Operator "{code}" sells airtime only in these amounts (rials): {amounts}.']}
    return {
        "amount": [f'Operator "{code}" takes amounts from {refusal["min_amount"]} to {refusal["max_amount"]} rials.']
    }


def _product_errors(refusal: dict) -> dict[str, list[str]]:
    code, problem = refusal["product"], refusal["problem"]
    if problem == "product_unknown":
        return {"product": [f'Unknown product "{code}"; GET /api/v1/products/ lists them.']}
    if problem == "product_disabled":
        return {"product": [f'Product "{code}" is not on sale now.']}
    if problem == "product_operator":
        return {
            "product": [
                f'Product "{code}" is a package of operator "{refusal["product_operator"]}", '
                f'not of "{refusal["operator"]}", the operator of this sale.'
            ]
        }
    # product_amount: the amount sent is not the package's.
    return {"amount": [f'Product "{code}" costs {refusal["amount"]} rials; send that amount, or none.']}
