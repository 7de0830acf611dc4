"""How pages show money and read figures. Under Persian the interface writes
Latin digits everywhere (figures, dates, charts): staff copy figures into
spreadsheets, bank forms and the API, where Latin digits are what is read,
and one script for figures keeps a column of amounts aligned. Inputs accept
Persian and Arabic-Indic digits too, as Iranian keyboards type them."""

from django.utils.translation import gettext

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


def latin_digits(text: str) -> str:
    """ "۱۴۰۵/۰۹/۱۶" -> "1405/09/16"; anything else is left as it is."""
    return text.translate(_DIGITS)


def rials(amount: int | None, *, signed: bool = False) -> str:
    """1234567 -> "1,234,567 IRR" ("1,234,567 ریال" in Persian)."""
    if amount is None:
        return "-"
    figure = f"{amount:+,}" if signed else f"{amount:,}"
    return gettext("%(amount)s IRR") % {"amount": figure}
