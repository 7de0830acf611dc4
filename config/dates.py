"""Days and moments as people read and type them, in one place for the admin
and the portal (the API and CSV exports never use these: they stay ISO UTC).

- Moments are shown in the business time zone (settings.BUSINESS_TIME_ZONE),
  and a day is that zone's calendar day: a sale at 00:30 in Tehran belongs to
  that Tehran day although it is the day before in UTC.
- Persian pages count in the Jalali calendar (jdatetime converts), English
  ones in the Gregorian one written as ISO: "1405/09/16 14:05" or
  "2026-12-07 14:05", Latin digits in both (config/formats.py).
- A typed day is read in either calendar, told apart by its year (read_day).
"""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import jdatetime
from django.conf import settings
from django.utils import dateformat, timezone, translation

from config.constants import FIRST_DAY
from config.formats import latin_digits


def business_time_zone() -> ZoneInfo:
    """Days are the business's calendar days (Asia/Tehran unless configured)."""
    return ZoneInfo(getattr(settings, "BUSINESS_TIME_ZONE", "Asia/Tehran"))


def day_start(day: date) -> datetime:
    """The business day's first moment (its midnight in the business time zone)."""
    return datetime.combine(day, time.min, tzinfo=business_time_zone())


def business_today() -> date:
    return timezone.now().astimezone(business_time_zone()).date()


class Gregorian:
    """The calendar of English pages, written as ISO 8601."""

    @staticmethod
    def month_first(day: date) -> date:
        return day.replace(day=1)

    @staticmethod
    def next_month(day: date) -> date:
        """The first day of the month after `day`'s."""
        return (day.replace(day=1) + timedelta(days=32)).replace(day=1)

    @staticmethod
    def year_first(day: date) -> date:
        return day.replace(month=1, day=1)

    @staticmethod
    def next_year(day: date) -> date:
        return date(day.year + 1, 1, 1)

    @staticmethod
    def day_text(day: date) -> str:
        return day.isoformat()

    @staticmethod
    def short_day_text(day: date) -> str:
        return day.strftime("%m-%d")

    @staticmethod
    def month_text(day: date) -> str:
        """December 2026."""
        return dateformat.format(day, "F Y")

    @staticmethod
    def year_text(day: date) -> str:
        return str(day.year)

    @staticmethod
    def day_of_month(day: date) -> int:
        return day.day


class Jalali:
    """The calendar of Persian pages: 1405/09/16 is 2026-12-07."""

    @staticmethod
    def _jalali(day: date) -> jdatetime.date:
        return jdatetime.date.fromgregorian(date=day)

    @classmethod
    def month_first(cls, day: date) -> date:
        return cls._jalali(day).replace(day=1).togregorian()

    @classmethod
    def next_month(cls, day: date) -> date:
        # Every Jalali month has 29 to 31 days: 32 days after the 1st is in the next one.
        return cls.month_first(cls.month_first(day) + timedelta(days=32))

    @classmethod
    def year_first(cls, day: date) -> date:
        return cls._jalali(day).replace(month=1, day=1).togregorian()

    @classmethod
    def next_year(cls, day: date) -> date:
        return jdatetime.date(cls._jalali(day).year + 1, 1, 1).togregorian()

    @classmethod
    def day_text(cls, day: date) -> str:
        return cls._jalali(day).strftime("%Y/%m/%d")

    @classmethod
    def short_day_text(cls, day: date) -> str:
        return cls._jalali(day).strftime("%m/%d")

    @staticmethod
    def month_text(day: date) -> str:
        """آذر 1405."""
        return jdatetime.date.fromgregorian(date=day, locale="fa_IR").strftime("%B %Y")

    @classmethod
    def year_text(cls, day: date) -> str:
        return str(cls._jalali(day).year)

    @classmethod
    def day_of_month(cls, day: date) -> int:
        return cls._jalali(day).day


def month_first(day: date, *, jalali: bool) -> date:
    """The first day of `day`'s month: in the Jalali calendar the Persian pages
    count months in (their "this month"), else in the Gregorian one."""
    return (Jalali if jalali else Gregorian).month_first(day)


def page_calendar() -> type[Gregorian] | type[Jalali]:
    """The calendar of the page being rendered: Jalali under Persian."""
    return Jalali if translation.get_language() == "fa" else Gregorian


def show_day(value: date | datetime) -> str:
    """A day (or a moment's business day): 2026-11-30, or 1405/09/09 in Persian."""
    if isinstance(value, datetime):
        value = value.astimezone(business_time_zone()).date()
    return page_calendar().day_text(value)


def show_moment(value: datetime | str) -> str:
    """A moment (or its ISO 8601 text, as in API bodies) in the business time
    zone: 2026-11-30 14:05, or 1405/09/09 14:05 in Persian."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment = value.astimezone(business_time_zone())
    return f"{page_calendar().day_text(moment.date())} {moment:%H:%M}"


_DAY = re.compile(r"(\d{1,4})[/\-.](\d{1,2})[/\-.](\d{1,2})")


def read_day(text: str) -> date:
    """A typed day: Jalali (1405/09/16) or Gregorian (2026-12-07), with Latin,
    Persian or Arabic-Indic digits, parts split by / - or a dot. A year before
    FIRST_DAY's (1900) is Jalali: no day a page may name is that old, and no
    one types a Jalali year from 1900 on (Gregorian 2521), so the year tells
    the calendar. A link keeps its meaning when the page's language changes.
    ValueError when the text is no day."""
    match = _DAY.fullmatch(latin_digits(text.strip()))
    if not match:
        raise ValueError(f"not a day: {text!r}")
    year, month, day = (int(part) for part in match.groups())
    if year < FIRST_DAY.year:
        return jdatetime.date(year, month, day).togregorian()
    return date(year, month, day)
