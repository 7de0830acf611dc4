"""The operators recharges migration 0004 creates. A flush (transactional
tests, the ledger state machine) empties their table; tests put them back."""

from recharges.models import MAX_AMOUNT, Operator
from recharges.operators import DEFAULT_OPERATORS, PERSIAN_NAMES


def restore_default_operators() -> None:
    for code, name in DEFAULT_OPERATORS:
        Operator.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "name_fa": PERSIAN_NAMES[code],
                "enabled": True,
                "min_amount": 1,
                "max_amount": MAX_AMOUNT,
            },
        )
