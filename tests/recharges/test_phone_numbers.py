import random

import phonenumbers
import pytest

from recharges.phone_numbers import InvalidPhoneNumber, to_e164


@pytest.mark.parametrize(
    "written",
    [
        "09121234567",
        "+989121234567",
        "989121234567",
        "00989121234567",
        "0912 123 4567",
        "0912-123-4567",
        "(0912) 123 4567",
        "9121234567",
        "۰۹۱۲۱۲۳۴۵۶۷",
        "٠٩١٢١٢٣٤٥٦٧",
    ],
)
def test_common_forms_give_e164(written):
    assert to_e164(written) == "+989121234567"


@pytest.mark.parametrize(
    "written", ["02112345678", "+982112345678", "0912123456", "091212345678", "+19121234567", "", "abc"]
)
def test_landlines_and_garbage_are_refused(written):
    with pytest.raises(InvalidPhoneNumber):
        to_e164(written)


def test_agrees_with_the_phonenumbers_library():
    """The fast check accepts exactly what phonenumbers calls a valid Iranian mobile."""
    rng = random.Random(20261126)
    for _ in range(20_000):
        national = f"9{rng.randrange(10**9):09d}"
        parsed = phonenumbers.parse("+98" + national)
        valid = phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
        try:
            accepted = to_e164("0" + national) == "+98" + national
        except InvalidPhoneNumber:
            accepted = False
        assert accepted == valid, national


@pytest.mark.parametrize("written", ["+98 0912 123 4567", "+9809121234567", "0098 0912 123 4567", "98-0912-123-4567"])
def test_the_country_code_with_the_trunk_zero_is_accepted(written):
    # Issue 10, item 12: how people write a number they usually dial with its 0.
    assert to_e164(written) == "+989121234567"


@pytest.mark.parametrize("written", ["+98 00912 123 4567", "+98 0 0912 123 4567", "0 0912 123 4567"])
def test_more_than_one_trunk_zero_is_refused(written):
    with pytest.raises(InvalidPhoneNumber):
        to_e164(written)
