"""config/dates.py: the one place where pages read and write days."""

from datetime import UTC, date, datetime

import pytest
from django.utils import translation

from config import dates


@pytest.mark.parametrize(
    "text, day",
    [
        ("1405/09/16", date(2026, 12, 7)),
        ("۱۴۰۵/۰۹/۱۶", date(2026, 12, 7)),  # Persian digits
        ("١٤٠٥-٠٩-١٦", date(2026, 12, 7)),  # Arabic-Indic digits
        (" 1405-9-16 ", date(2026, 12, 7)),
        ("1403/12/30", date(2025, 3, 20)),  # 1403 is a leap year
        ("2026-12-07", date(2026, 12, 7)),
        ("2026/12/07", date(2026, 12, 7)),
        ("1900-01-01", date(1900, 1, 1)),  # FIRST_DAY's year and after: Gregorian
    ],
)
def test_read_day_in_either_calendar(text, day):
    assert dates.read_day(text) == day


@pytest.mark.parametrize("text", ["", "1405/13/01", "1405/12/30", "2026-02-30", "0/1/1", "1405/09", "16/09/1405", "x"])
def test_read_day_refuses_what_is_no_day(text):
    with pytest.raises(ValueError):
        dates.read_day(text)


def test_a_moment_is_shown_in_tehran_in_the_pages_calendar():
    moment = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
    with translation.override("fa"):
        assert (dates.show_moment(moment), dates.show_day(moment)) == ("1405/09/16 00:30", "1405/09/16")
        assert dates.show_moment("2026-12-06T21:00:00.000000Z") == "1405/09/16 00:30"  # an API body's text
    with translation.override("en"):
        assert (dates.show_moment(moment), dates.show_day(moment)) == ("2026-12-07 00:30", "2026-12-07")


@pytest.mark.parametrize(
    "day, month, next_month, year, next_year",
    [
        # Jalali: Azar 1405 runs 2026-11-22 to 12-21; 1405 runs 2026-03-21 to 2027-03-20.
        ("2026-12-07", "2026-11-22", "2026-12-22", "2026-03-21", "2027-03-21"),
        ("2027-03-20", "2027-02-20", "2027-03-21", "2026-03-21", "2027-03-21"),  # the last day of 1405
        ("2025-03-20", "2025-02-19", "2025-03-21", "2024-03-20", "2025-03-21"),  # 1403/12/30, a leap day
    ],
)
def test_jalali_months_and_years(day, month, next_month, year, next_year):
    day_ = date.fromisoformat(day)
    got = [dates.Jalali.month_first(day_), dates.Jalali.next_month(day_), dates.Jalali.year_first(day_)]
    assert [*got, dates.Jalali.next_year(day_)] == [date.fromisoformat(d) for d in (month, next_month, year, next_year)]


def test_gregorian_months_and_years():
    day = date(2026, 12, 7)
    assert (dates.Gregorian.month_first(day), dates.Gregorian.next_month(day)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert (dates.Gregorian.year_first(day), dates.Gregorian.next_year(day)) == (date(2026, 1, 1), date(2027, 1, 1))
    with translation.override("en"):
        assert dates.Gregorian.month_text(day) == "December 2026"
    assert dates.Jalali.month_text(day) == "آذر 1405"
