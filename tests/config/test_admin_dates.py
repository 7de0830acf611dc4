"""Dates in the admin (config/admin_dates.py), through the real admin: Tehran
time, Jalali under Persian and ISO under English, date filters that count
Tehran days and drill down year -> month -> day; the API stays UTC."""

import csv
import io
import re
from datetime import UTC, date, datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.utils import timezone

from config import admin_dates
from credits.models import CreditRequest
from ledger.models import LedgerEntry
from tests.helpers.sellers import client_for
from tests.helpers.tehran_days import DAY_AFTER, DAY_BEFORE, HALF_PAST_MIDNIGHT, recharges_around_midnight

RECHARGES = "/admin/recharges/recharge/"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser(username="boss", password="pw-for-tests-only")


def admin_in(language: str, user) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = language
    return client


@pytest.fixture
def sold(make_seller):
    seller = make_seller(name="Shop T")
    return seller, recharges_around_midnight(seller)


def listed(response) -> list[int]:
    assert response.status_code == 200
    return sorted(recharge.pk for recharge in response.context["cl"].result_list)


def test_the_list_and_the_page_show_tehran_time_in_the_jalali_calendar_under_persian(staff, sold):
    _seller, ids = sold
    recharge = ids[HALF_PAST_MIDNIGHT]
    for url in (RECHARGES, f"{RECHARGES}{recharge}/change/"):
        html = admin_in("fa", staff).get(url).content.decode()
        assert "1405/09/16 00:30" in html, url  # 2026-12-06 21:00 UTC
        # No Gregorian moment: neither ISO nor Django's Persian format ("7 دسامبر 2026، ساعت 0:30").
        assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", html) and "دسامبر" not in html, url


def test_the_list_and_the_page_show_tehran_time_as_iso_under_english(staff, sold):
    _seller, ids = sold
    recharge = ids[HALF_PAST_MIDNIGHT]
    for url in (RECHARGES, f"{RECHARGES}{recharge}/change/"):
        html = admin_in("en", staff).get(url).content.decode()
        assert "2026-12-07 00:30" in html and "21:00" not in html, url  # not the UTC time


def test_a_filter_on_a_day_returns_that_tehran_days_rows(staff, sold):
    _seller, ids = sold
    for since, until in [("2026-12-07", "2026-12-07"), ("1405/09/16", "۱۴۰۵/۰۹/۱۶")]:
        response = admin_in("fa", staff).get(RECHARGES, {"created_at__since": since, "created_at__until": until})
        assert listed(response) == [ids[HALF_PAST_MIDNIGHT]]
    both_days = {"created_at__since": "1405/09/15", "created_at__until": "1405/09/16"}
    assert listed(admin_in("en", staff).get(RECHARGES, both_days)) == sorted([ids[DAY_BEFORE], ids[HALF_PAST_MIDNIGHT]])


def _link(html: str, label: str) -> str:
    """The query string of the filter's link labelled `label`."""
    (query,) = re.findall(rf'<a href="(\?[^"]*)">{re.escape(label)}</a>', html)
    return unescape(query)


def test_the_drill_down_goes_from_a_jalali_year_to_its_months_and_days(staff, sold):
    _seller, ids = sold
    client = admin_in("fa", staff)
    year_1405 = client.get(RECHARGES, {"created_at__since": "2026-03-21", "created_at__until": "2027-03-20"})
    assert listed(year_1405) == sorted(ids.values())
    azar = _link(year_1405.content.decode(), "آذر 1405")
    assert azar == "?created_at__since=2026-11-22&created_at__until=2026-12-21"
    month = client.get(RECHARGES + azar)
    assert listed(month) == sorted(ids.values())
    day = client.get(RECHARGES + _link(month.content.decode(), "16"))
    assert listed(day) == [ids[HALF_PAST_MIDNIGHT]]
    next_day = client.get(RECHARGES + _link(day.content.decode(), "1405/09/17"))
    assert listed(next_day) == [ids[DAY_AFTER]]


def test_the_drill_down_counts_gregorian_months_under_english(staff, sold):
    _seller, ids = sold
    client = admin_in("en", staff)
    year = client.get(RECHARGES, {"created_at__since": "2026-01-01", "created_at__until": "2026-12-31"})
    december = _link(year.content.decode(), "December 2026")
    assert december == "?created_at__since=2026-12-01&created_at__until=2026-12-31"
    day = client.get(RECHARGES + _link(client.get(RECHARGES + december).content.decode(), "7"))
    assert listed(day) == [ids[HALF_PAST_MIDNIGHT]]


def test_today_is_the_tehran_day(staff, sold, monkeypatch):
    _seller, ids = sold
    monkeypatch.setattr(admin_dates, "business_today", lambda: date(2026, 12, 7))
    client = admin_in("fa", staff)
    today = _link(client.get(RECHARGES).content.decode(), "امروز")
    assert today == "?created_at__since=2026-12-07&created_at__until=2026-12-07"
    assert listed(client.get(RECHARGES + today)) == [ids[HALF_PAST_MIDNIGHT]]
    this_month = _link(client.get(RECHARGES).content.decode(), "این ماه")
    assert this_month == "?created_at__since=2026-11-22&created_at__until=2026-12-21"  # Azar 1405


@pytest.mark.parametrize("since", ["1405/13/01", "yesterday", "0001-01-01"])
def test_a_day_that_is_none_is_the_admins_error_page_not_a_500(staff, sold, since):
    response = admin_in("fa", staff).get(RECHARGES, {"created_at__since": since})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_facets_count_each_link(staff, sold):
    client = admin_in("en", staff)
    month = client.get(RECHARGES, {"created_at__since": "2026-12-01", "created_at__until": "2026-12-31", "_facets": ""})
    html = month.content.decode()
    assert re.search(r">7 \(1\)</a>", html) and re.search(r">6 \(1\)</a>", html) and re.search(r">8 \(1\)</a>", html)


def test_the_api_stays_utc_whatever_the_pages_show(staff, sold):
    seller, ids = sold
    admin_in("fa", staff).get(RECHARGES)
    api = client_for(seller.user)
    # Even were a page's zone left active in this thread, the API answers in UTC.
    with timezone.override(ZoneInfo("Asia/Tehran")):
        entries = api.get("/api/v1/transactions/").json()["results"]
        recharge = api.get(f"/api/v1/recharges/{ids[HALF_PAST_MIDNIGHT]}/").json()
    assert "2026-12-06T21:00:00.000000Z" in [entry["created_at"] for entry in entries]
    assert recharge["created_at"] == "2026-12-06T21:00:00.000000Z"


def test_pages_leave_the_thread_in_utc(staff, sold):
    admin_in("fa", staff).get(RECHARGES)
    assert timezone.get_current_timezone_name() == "UTC"


def test_the_csv_export_stays_utc(staff, sold):
    ids = list(LedgerEntry.objects.filter(recharge_id__in=sold[1].values()).values_list("pk", flat=True))
    response = admin_in("fa", staff).post(
        "/admin/ledger/ledgerentry/", {"action": "export_csv", "_selected_action": ids}
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert "2026-12-06T21:00:00+00:00" in [row["created_at"] for row in rows]


def test_a_nullable_date_can_be_filtered_empty_or_not(staff, sold, make_seller):
    """decided_at is empty until staff decide (no admin filters on it yet: the filter itself)."""
    seller = make_seller(name="Shop N")
    pending = CreditRequest.objects.create(seller=seller, amount=10_000)
    field = CreditRequest._meta.get_field("decided_at")
    model_admin = admin.site._registry[CreditRequest]

    def filtered(**params):
        request = RequestFactory().get("/")
        spec = admin_dates.BusinessDayFilter(
            field, request, {k: [v] for k, v in params.items()}, CreditRequest, model_admin, "decided_at"
        )
        return set(spec.queryset(request, CreditRequest.objects.all()).values_list("pk", flat=True))

    assert filtered(decided_at__isnull="True") == {pending.pk}
    decided = set(CreditRequest.objects.exclude(pk=pending.pk).values_list("pk", flat=True))
    assert filtered(decided_at__isnull="False") == decided
    # The top-up before the recharges was approved on 2026-12-01 (1405/09/10).
    assert len(decided) == 1 and filtered(decided_at__since="1405/09/10", decided_at__until="1405/09/10") == decided
    assert filtered(decided_at__until="1405/09/09") == set()


def test_a_history_page_shows_its_moments_in_tehran_time_and_the_pages_calendar(staff, make_seller):
    seller = make_seller(name="Shop H")
    moment = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)  # 00:30 on 7 December in Tehran
    entry = LogEntry.objects.create(
        user=staff,
        content_type=ContentType.objects.get_for_model(seller),
        object_id=str(seller.pk),
        object_repr=str(seller),
        action_flag=CHANGE,
        change_message="[]",
    )
    LogEntry.objects.filter(pk=entry.pk).update(action_time=moment)
    url = f"/admin/sellers/seller/{seller.pk}/history/"
    persian = admin_in("fa", staff).get(url).content.decode()
    assert "1405/09/16 00:30" in persian and "دسامبر" not in persian
    assert "2026-12-07 00:30" in admin_in("en", staff).get(url).content.decode()
