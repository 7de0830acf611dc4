"""What the sale form offers, as data for its script: the enabled operators
with their fixed amounts, the packages' operators and amounts, and which
operator serves which number prefix.

The prefixes are libphonenumber's carrier prefixes, mapped as
recharges.operators.detect_operator maps them: the script looks up the
longest prefix of the typed number, as libphonenumber does, so the page names
the operator the sale will go to (the server still detects it itself)."""

from django.conf import settings
from phonenumbers.carrierdata import CARRIER_DATA

from recharges.models import Operator, Product
from recharges.operators import CARRIER_CODES
from recharges.selectors import display_name

IRAN = "98"


def operator_prefixes() -> dict[str, str]:
    """{E.164 digits prefix: operator code} for Iran's mobile prefixes. A
    prefix without an English carrier name is left out: libphonenumber then
    tries the shorter one. A carrier with no operator code of ours goes to the
    default operator, as detect_operator sends it."""
    return {
        prefix: CARRIER_CODES.get(names["en"], settings.DEFAULT_OPERATOR)
        for prefix, names in CARRIER_DATA.items()
        if prefix.startswith(IRAN) and "en" in names
    }


def sale_catalogue(*, operators: list[Operator], products: list[Product]) -> dict:
    """The JSON the sale form's script reads (embedded with json_script)."""
    return {
        "operators": {
            operator.code: {"name": display_name(operator), "denominations": operator.denominations}
            for operator in operators
            if operator.enabled
        },
        "products": {product.code: {"operator": product.operator_id, "amount": product.amount} for product in products},
        "prefixes": operator_prefixes(),
        "default_operator": settings.DEFAULT_OPERATOR,
    }
