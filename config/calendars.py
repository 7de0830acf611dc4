"""The calendar a page counts months in: Persian pages show Jalali dates, so
their "this month" is the Jalali month; English pages count Gregorian months."""

from datetime import date

import jdatetime


def month_first(day: date, *, jalali: bool) -> date:
    """The first day of `day`'s month, in the Jalali calendar or the Gregorian one."""
    if jalali:
        return jdatetime.date.fromgregorian(date=day).replace(day=1).togregorian()
    return day.replace(day=1)
