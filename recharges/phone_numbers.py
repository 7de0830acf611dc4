"""Iranian mobile numbers in any common written form, to E.164."""

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

# Persian and Arabic-Indic digits, as Iranian keyboards type them.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_SEPARATORS = re.compile(r"[\s\-().]")
# 0912..., +98912..., 98912..., 0098912..., or the bare 912...
_IRANIAN_MOBILE = re.compile(r"(?:\+98|0098|98|0)?(9[0-9]{9})")
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidPhoneNumber(ValueError):
    """Raised when a string is not an Iranian mobile number."""


@lru_cache(maxsize=100_000)
def to_e164(raw: str) -> str:
    """Returns the number as +989xxxxxxxxx, or raises InvalidPhoneNumber.

    The regular expression rejects landlines and garbage cheaply; the
    `phonenumbers` metadata then confirms the number is an assigned mobile
    range. Cached: terminals recharge the same numbers again and again.
    """
    match = _IRANIAN_MOBILE.fullmatch(_SEPARATORS.sub("", raw.translate(_DIGITS)))
    if match is None:
        raise InvalidPhoneNumber("Enter an Iranian mobile number, e.g. 09121234567.")
    try:
        number = phonenumbers.parse("+98" + match.group(1))
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber("Enter an Iranian mobile number, e.g. 09121234567.") from None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber("This is not a valid Iranian mobile number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
