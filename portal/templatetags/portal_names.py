"""Codes and stored values as the seller reads them: operators and packages
by name, mobile numbers as Iranians write them, a failure in the page's language."""

from django import template

from credits.banks import bank_name
from portal.refusals import failure_reason as _failure_reason
from recharges.phone_numbers import national_display

register = template.Library()


@register.filter
def named(code, names: dict) -> str:
    """An operator's or a package's name as the sale form lists it, or its
    code (one no longer listed)."""
    return names.get(code, code)


@register.filter
def bank(code: str) -> str:
    return bank_name(code)


@register.filter
def phone(e164) -> str:
    """+989121234567 -> "0912 123 4567"."""
    return national_display(e164)


@register.filter
def failure_reason(failure) -> str:
    return _failure_reason(failure)
