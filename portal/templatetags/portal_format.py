"""Numbers and dates as people read them: thousands separators, and in
Persian the Jalali calendar. API bodies and CSV never use these."""

from datetime import date
from decimal import Decimal

from django import template

from config import dates

register = template.Library()


@register.filter
def money(value) -> str:
    """1234567 -> "1,234,567"."""
    if value is None or value == "":
        return ""
    return f"{int(value):,}"


@register.filter
def local_date(value) -> str:
    """A day: 2026-11-30, or 1405/09/09 in Persian."""
    return "" if value is None or value == "" else dates.show_day(value)


@register.filter
def local_datetime(value) -> str:
    """A moment in the business time zone: 2026-11-30 14:05, or 1405/09/09 14:05 in Persian."""
    return "" if value is None or value == "" else dates.show_moment(value)


@register.filter
def short_day(value: date) -> str:
    """Chart labels: 11-30, or 09/09 in Persian."""
    return dates.page_calendar().short_day_text(value)


@register.filter
def month_name(first_day: date) -> str:
    """The month a day starts: December 2026, or آذر 1405 in Persian (whose
    pages count months in the Jalali calendar)."""
    return dates.page_calendar().month_text(first_day)


@register.filter
def basis_points(rate) -> str:
    """A commission rate in basis points as a percentage: 250 -> "2.5%"."""
    if rate is None or rate == "":
        return ""
    return f"{Decimal(int(rate)) / 100}%"
