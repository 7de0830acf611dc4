"""Dates in the admin, for every model's pages at once (the apps' admin.py
files say nothing about dates; config/dates.py decides how they read):

- every date and time the admin shows (list columns, read-only fields) is
  config.dates' text: business time zone, Jalali under Persian;
- every list filter on a date or datetime field (and the replacement of
  `date_hierarchy`: a filter on the field) counts business days, offers the
  usual periods in the page's calendar, and drills down year -> month -> day.
"""

from datetime import date, datetime, timedelta

from django.contrib import admin
from django.contrib.admin import helpers, utils
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags import admin_list
from django.db import models
from django.utils.translation import gettext as _

from config.constants import FIRST_DAY, LAST_DAY
from config.dates import business_today, day_start, page_calendar, read_day, show_day, show_moment

Link = tuple[str, str, date | None, date | None, bool | None]
_django_display_for_field = utils.display_for_field
_django_display_for_value = utils.display_for_value


def _show(value: date) -> str:
    return show_moment(value) if isinstance(value, datetime) else show_day(value)


def display_for_field(value, field, empty_value_display, avoid_link=False):
    if isinstance(field, models.DateField) and value not in field.empty_values and not field.flatchoices:
        return _show(value)
    return _django_display_for_field(value, field, empty_value_display, avoid_link)


def display_for_value(value, empty_value_display, boolean=False):
    if isinstance(value, date) and not boolean:
        return _show(value)
    return _django_display_for_value(value, empty_value_display, boolean)


def install() -> None:
    """Django's admin has no setting for how it writes a value: its columns
    and read-only fields all go through these two functions of
    django.contrib.admin.utils, which its modules import by name, so each
    module gets ours (tests/config/test_admin_dates.py reads real pages)."""
    for module in (utils, helpers, admin_list):
        if hasattr(module, "display_for_field"):
            module.display_for_field = display_for_field  # type: ignore[attr-defined]
        if hasattr(module, "display_for_value"):
            module.display_for_value = display_for_value  # type: ignore[attr-defined]
    admin.FieldListFilter.register(
        lambda field: isinstance(field, models.DateField), BusinessDayFilter, take_priority=True
    )
    # Every model's history page (the libraries' too): its moments written the same way.
    admin.ModelAdmin.object_history_template = "config/admin/object_history.html"


class BusinessDayFilter(admin.FieldListFilter):
    """Rows of a span of business days: `<field>__since` and `<field>__until`
    (both included; ISO in the links it makes, a typed Jalali day is read
    too), and `<field>__isnull` for a field that may be empty. The links:
    today, the past 7 days, this month and this year in the page's calendar,
    then, when a whole year, month or day is chosen, the ones beside it and
    its months or days (Django's date_hierarchy counts Gregorian months)."""

    template = "admin/business_day_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.since_param = f"{field_path}__since"
        self.until_param = f"{field_path}__until"
        self.isnull_param = f"{field_path}__isnull"
        self.counts_moments = isinstance(field, models.DateTimeField)
        super().__init__(field, request, params, model, model_admin, field_path)

    def expected_parameters(self):
        return [self.since_param, self.until_param] + ([self.isnull_param] if self.field.null else [])

    def _value(self, parameter: str):
        value = self.used_parameters.get(parameter)
        return value[-1] if isinstance(value, list) else value

    def _day(self, parameter: str) -> date | None:
        value = self._value(parameter)
        if not value:
            return None
        try:
            day = read_day(value)
        except ValueError as error:
            raise IncorrectLookupParameters(error) from error
        if not FIRST_DAY <= day <= LAST_DAY:
            raise IncorrectLookupParameters(f"{day} is outside {FIRST_DAY} to {LAST_DAY}")
        return day

    def _lookups(self, since: date | None, until: date | None, isnull: bool | None = None) -> dict:
        lookups: dict = {}
        if since is not None:
            lookups[f"{self.field_path}__gte"] = day_start(since) if self.counts_moments else since
        if until is not None:
            if self.counts_moments:
                lookups[f"{self.field_path}__lt"] = day_start(until + timedelta(days=1))
            else:
                lookups[f"{self.field_path}__lte"] = until
        if isnull is not None:
            lookups[f"{self.field_path}__isnull"] = isnull
        return lookups

    def queryset(self, request, queryset):
        isnull = self._value(self.isnull_param)
        return queryset.filter(**self._lookups(self._day(self.since_param), self._day(self.until_param), isnull))

    def _links(self) -> list[Link]:
        """(kind, label, since, until, isnull) of each link, in the page's language."""
        calendar, today = page_calendar(), business_today()
        links: list[Link] = [
            ("period", _("Any date"), None, None, None),
            ("period", _("Today"), today, today, None),
            ("period", _("Past 7 days"), today - timedelta(days=6), today, None),
            ("period", _("This month"), calendar.month_first(today), calendar.next_month(today) - timedelta(1), None),
            ("period", _("This year"), calendar.year_first(today), calendar.next_year(today) - timedelta(1), None),
        ]
        if self.field.null:
            links += [("period", _("No date"), None, None, True), ("period", _("Has date"), None, None, False)]
        try:
            return links + self._drill_down()
        except (ValueError, OverflowError):  # beside the first or the last day there is
            return links

    def _drill_down(self) -> list[Link]:
        """Beside and below a chosen year, month or day."""
        since, until = self._day(self.since_param), self._day(self.until_param)
        if since is None or until is None:
            return []
        calendar, one = page_calendar(), timedelta(days=1)
        if since == until:
            month = calendar.month_first(since)
            return [
                ("beside", show_day(since - one), since - one, since - one, None),
                ("up", calendar.month_text(month), month, calendar.next_month(month) - one, None),
                ("beside", show_day(until + one), until + one, until + one, None),
            ]
        if since == calendar.month_first(since) and until == calendar.next_month(since) - one:
            year, before = calendar.year_first(since), calendar.month_first(since - one)
            return [
                ("beside", calendar.month_text(before), before, since - one, None),
                ("up", calendar.year_text(year), year, calendar.next_year(year) - one, None),
                ("beside", calendar.month_text(until + one), until + one, calendar.next_month(until + one) - one, None),
                *(("day", str(calendar.day_of_month(day)), day, day, None) for day in _days(since, until)),
            ]
        if since == calendar.year_first(since) and until == calendar.next_year(since) - one:
            before = calendar.year_first(since - one)
            months = [since]
            while calendar.next_month(months[-1]) <= until:
                months.append(calendar.next_month(months[-1]))
            return [
                ("beside", calendar.year_text(before), before, since - one, None),
                ("beside", calendar.year_text(until + one), until + one, calendar.next_year(until + one) - one, None),
                *(
                    ("month", calendar.month_text(first), first, calendar.next_month(first) - one, None)
                    for first in months
                ),
            ]
        return []

    def get_facet_counts(self, pk_attname, filtered_qs):
        return {
            f"{i}__c": models.Count(pk_attname, filter=models.Q(**self._lookups(since, until, isnull)))
            for i, (_kind, _label, since, until, isnull) in enumerate(self._links())
        }

    def choices(self, changelist):
        facets = self.get_facet_queryset(changelist) if changelist.add_facets else None
        chosen = {key: str(self._value(key)) for key in self.used_parameters}
        for i, (kind, label, since, until, isnull) in enumerate(self._links()):
            params = {
                self.since_param: since and since.isoformat(),
                self.until_param: until and until.isoformat(),
                self.isnull_param: None if isnull is None else str(isnull),
            }
            params = {key: value for key, value in params.items() if value is not None}
            yield {
                "kind": kind,
                "selected": kind != "beside" and _same(chosen, params),
                "query_string": changelist.get_query_string(params, [f"{self.field_path}__"]),
                "display": f"{label} ({facets[f'{i}__c']})" if facets else label,
            }


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _same(chosen: dict, params: dict) -> bool:
    """The link is the chosen span (a typed Jalali or Persian-digit day included)."""
    if chosen.keys() != params.keys():
        return False
    try:
        return all(
            read_day(chosen[key]) == read_day(value) if key.endswith(("__since", "__until")) else chosen[key] == value
            for key, value in params.items()
        )
    except ValueError:
        return False
