"""Reports read closed days from DayTotal (reports.services.summarize_days)
and later days from the ledger: the same figures either way."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from reports.models import DayTotal
from reports.selectors import daily_report, summarized_through
from reports.services import summarize_days
from tests.helpers.ledger_entries import entry_at, utc

RANGES = [
    ("2026-01-08", "2026-01-14"),
    ("2026-01-10", "2026-01-10"),
    ("2026-01-11", "2026-01-12"),
    ("2025-01-15", "2026-01-15"),
]


def reports(sellers) -> list:
    days = [(datetime.fromisoformat(a).date(), datetime.fromisoformat(b).date()) for a, b in RANGES]
    return [daily_report(date_from=a, date_to=b, seller_id=s) for a, b in days for s in [None, *sellers]]


def test_summed_days_give_the_live_figures(history):
    sellers = [seller.pk for seller in history]
    live = reports(sellers)
    # Jan 11 12:00 UTC is 15:30 in Tehran: Jan 10 is the last closed day.
    assert summarize_days(now=utc(2026, 1, 11, 12, 0)).isoformat() == "2026-01-10"
    assert summarized_through().isoformat() == "2026-01-10"
    assert reports(sellers) == live
    assert summarize_days().isoformat() > "2026-01-14"  # today: every day of the history
    assert reports(sellers) == live


def test_reports_read_the_summed_days(history):
    a, _ = history
    summarize_days()
    DayTotal.objects.filter(seller=a, day="2026-01-10").update(recharges=99, net=0)
    (row,) = daily_report(date_from=datetime(2026, 1, 10).date(), date_to=datetime(2026, 1, 10).date(), seller_id=a.pk)
    assert (row["recharges"], row["balance_end"]) == (99, 95_000)  # 95,000: the opening alone, as net is 0


def test_a_late_commit_is_summed_again_by_the_next_run(history):
    a, _ = history
    summarize_days(now=utc(2026, 1, 11, 12, 0))
    entry_at(a.pk, "credit", 5_000, utc(2026, 1, 10, 20, 0))  # Jan 10, committed after the run
    summarize_days(now=utc(2026, 1, 12, 12, 0))
    assert DayTotal.objects.get(seller=a, day="2026-01-10").credited_amount == 5_000
    assert DayTotal.objects.get(seller=None, day="2026-01-10").credited_amount == 45_000


def test_another_time_zone_ignores_the_summed_days(history, settings):
    sellers = [seller.pk for seller in history]
    summarize_days()
    settings.BUSINESS_TIME_ZONE = "UTC"
    assert summarized_through() is None
    live_utc = reports(sellers)
    DayTotal.objects.all().delete()
    assert reports(sellers) == live_utc
    call_command("summarize_ledger_days")
    assert summarized_through() is not None and reports(sellers) == live_utc


@pytest.mark.parametrize("hours_after_midnight", [0.5, 1.5])
def test_a_day_is_summed_an_hour_after_it_ends(db, hours_after_midnight):
    # Jan 10 ends at 20:30 UTC.
    now = datetime(2026, 1, 10, 20, 30, tzinfo=UTC) + timedelta(hours=hours_after_midnight)
    expected = "2026-01-10" if hours_after_midnight > 1 else "2026-01-09"
    assert summarize_days(now=now).isoformat() == expected
