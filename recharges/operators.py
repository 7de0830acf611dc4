"""Which operator serves a number, and the words for an operator's refusal.

Detection uses Google's libphonenumber carrier data (the `phonenumbers`
package); a number it names no carrier for goes to settings.DEFAULT_OPERATOR.
Whether an operator takes a top-up (enabled, amount in range) is judged by
the sale statement itself (recharges/sql/operator_refusal.sql).
"""

from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers import carrier

# The contract's operators, as the migration that created them left them.
DEFAULT_OPERATORS = [
    ("mci", "MCI (Hamrah-e Aval)"),
    ("irancell", "Irancell"),
    ("rightel", "Rightel"),
    ("mtce", "MTCE (Espadan)"),
    ("telekish", "TeleKish"),
    ("aptel", "Aptel"),
]
CARRIER_CODES = {
    "IR-MCI": "mci",
    "Irancell": "irancell",
    "Rightel": "rightel",
    "MTCE": "mtce",
    "TeleKish": "telekish",
    "Aptel": "aptel",
}


@lru_cache(maxsize=100_000)
def detect_operator(e164: str) -> str:
    """The code of the operator serving this E.164 number."""
    name = carrier.name_for_number(phonenumbers.parse(e164), "en")
    return CARRIER_CODES.get(name, settings.DEFAULT_OPERATOR)


def refusal_errors(refusal: dict) -> dict[str, list[str]]:
    """Field errors for an operator_refusal (see its SQL): the validation_error's details."""
    code = refusal["operator"]
    if refusal["problem"] == "unknown":
        return {"operator": [f'Unknown operator "{code}"; GET /api/v1/operators/ lists them.']}
    if refusal["problem"] == "disabled":
        return {"operator": [f'Operator "{code}" is not taking top-ups now.']}
    return {
        "amount": [f'Operator "{code}" takes amounts from {refusal["min_amount"]} to {refusal["max_amount"]} rials.']
    }
