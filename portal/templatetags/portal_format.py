"""Numbers and dates as people read them: thousands separators, and in
Persian the Jalali calendar. API bodies and CSV never use these."""

from datetime import date, datetime
from decimal import Decimal

import jdatetime
from django import template
from django.utils import dateformat, translation

from portal.selectors import business_time_zone

register = template.Library()


def _persian() -> bool:
    return translation.get_language() == "fa"


@register.filter
def money(value) -> str:
    """1234567 -> "1,234,567"."""
    if value is None or value == "":
        return ""
    return f"{int(value):,}"


@register.filter
def local_date(value) -> str:
    """A day: 2026-11-30, or 1405/09/09 in Persian."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(business_time_zone()).date()
    if _persian():
        return jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d")
    return value.isoformat()


@register.filter
def local_datetime(value) -> str:
    """A moment (or its ISO 8601 text, as in API bodies) in the business time
    zone: 2026-11-30 14:05, or 1405/09/09 14:05 in Persian."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment = value.astimezone(business_time_zone())
    if _persian():
        return jdatetime.datetime.fromgregorian(datetime=moment).strftime("%Y/%m/%d %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


@register.filter
def short_day(value: date) -> str:
    """Chart labels: 11-30, or 09/09 in Persian."""
    if _persian():
        return jdatetime.date.fromgregorian(date=value).strftime("%m/%d")
    return value.strftime("%m-%d")


@register.filter
def month_name(first_day: date) -> str:
    """The month a day starts: December 2026, or آذر 1405 in Persian (whose
    pages count months in the Jalali calendar)."""
    if _persian():
        return jdatetime.date.fromgregorian(date=first_day, locale="fa_IR").strftime("%B %Y")
    return dateformat.format(first_day, "F Y")


@register.filter
def basis_points(rate) -> str:
    """A commission rate in basis points as a percentage: 250 -> "2.5%"."""
    if rate is None or rate == "":
        return ""
    return f"{Decimal(int(rate)) / 100}%"
