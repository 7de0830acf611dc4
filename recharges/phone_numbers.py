"""Iranian mobile numbers in any common written form, to E.164."""

import re

import phonenumbers

from config.formats import latin_digits

_SEPARATORS = re.compile(r"[\s\-().]")
# 0912..., +98912..., 98912..., 0098912..., or the bare 912...; people also
# keep the trunk 0 after the country code (+98 0912...), which dialling forgives.
_IRANIAN_MOBILE = re.compile(r"(?:(?:\+98|0098|98)0?|0)?(9[0-9]{9})")
# The assigned mobile ranges, from the `phonenumbers` metadata itself: matching
# this pattern is what phonenumbers.parse + is_valid_number + number_type decide
# for these numbers (tests/recharges/test_phone_numbers.py), at 1% of the cost.
_ASSIGNED_MOBILE = re.compile(phonenumbers.PhoneMetadata.metadata_for_region("IR").mobile.national_number_pattern)  # type: ignore[union-attr,type-var]  # IR is in the metadata


class InvalidPhoneNumber(ValueError):
    """Raised when a string is not an Iranian mobile number."""


def to_e164(raw: str) -> str:
    """Returns the number as +989xxxxxxxxx, or raises InvalidPhoneNumber.

    Not cached: it takes ~3 us, and a cache of every customer's number grew
    each web worker by ~8 MiB per 40,000 numbers (the 5-minute memory run).
    """
    match = _IRANIAN_MOBILE.fullmatch(_SEPARATORS.sub("", latin_digits(raw)))
    if match is None:
        raise InvalidPhoneNumber("Enter an Iranian mobile number, e.g. 09121234567.")
    if _ASSIGNED_MOBILE.fullmatch(match.group(1)) is None:
        raise InvalidPhoneNumber("This is not a valid Iranian mobile number.")
    return "+98" + match.group(1)


def national_display(e164: str) -> str:
    """+989121234567 -> "0912 123 4567", as Iranians write a mobile number;
    anything that is not such a number is shown as it is."""
    if not (e164.startswith("+989") and len(e164) == 13):
        return e164
    national = "0" + e164[3:]
    return f"{national[:4]} {national[4:7]} {national[7:]}"
