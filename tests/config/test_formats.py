from django.utils import translation

from config.formats import latin_digits, rials
from recharges.phone_numbers import national_display


def test_persian_and_arabic_indic_digits_read_as_latin():
    assert latin_digits("۱۴۰۵/۰۹/۱۶") == "1405/09/16"
    assert latin_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert latin_digits("abc 12") == "abc 12"


def test_rials_have_separators_and_the_unit_in_each_language():
    assert rials(1234567) == "1,234,567 IRR"
    assert rials(-5000, signed=True) == "-5,000 IRR"
    assert rials(None) == "-"
    with translation.override("fa"):
        assert rials(1234567) == "1,234,567 ریال"


def test_a_mobile_number_is_shown_as_iranians_write_it():
    assert national_display("+989121234567") == "0912 123 4567"
    assert national_display("+4930123") == "+4930123"
