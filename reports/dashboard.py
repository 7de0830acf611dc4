"""The staff dashboard: a page of the admin (linked from its index)."""

from datetime import date, timedelta

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _

from config.charts import Chart, Series, bar_chart
from config.dates import month_first
from config.permissions import requires
from recharges.selectors import operator_floats, operator_names
from reports import selectors
from reports.api import LEDGER_VIEW_PERMISSION
from settlement.selectors import latest_settlements

CHART_DAYS = 30


@requires(LEDGER_VIEW_PERMISSION)
def dashboard(request):
    today = selectors.business_today()
    month = month_first(today, jalali=get_language() == "fa")
    chart_from = today - timedelta(CHART_DAYS - 1)
    # One read for the cards and the charts: a month starts at most 30 days back.
    report = selectors.daily_report(date_from=min(chart_from, month), date_to=today)
    days = report[-CHART_DAYS:]
    names = operator_names()
    deliveries = selectors.delivery_overview(since=chart_from, now=timezone.now())
    deliveries["operators"] = [
        {**row, "name": names.get(row["operator"], row["operator"])} for row in deliveries["operators"]
    ]
    rtl = get_language_bidi()
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "today": today,
        "month": month,
        "figures": {
            "today": selectors.period_figures(report[-1:]),
            "month": selectors.period_figures([row for row in report if row["date"] >= month]),
        },
        "waiting": selectors.pending_credit_requests(),
        "waiting_adjustments": selectors.adjustments_awaiting_second_approval(),
        "deliveries": deliveries,
        "horizon_hours": int(selectors.delivery_horizon().total_seconds() // 3600),
        "sales_chart": _sales_chart(days, selectors.operator_sales(date_from=chart_from, date_to=today), names, rtl),
        "top_up_chart": bar_chart(
            [row["date"] for row in days], [Series(_("top-ups"), [row["credited_amount"] for row in days])], rtl=rtl
        ),
        "top_sellers": selectors.top_sellers(since=chart_from),
        "floats": [{"name": names.get(state.operator, state.operator), "state": state} for state in operator_floats()],
        "settlements": [{**row, "name": names.get(row["operator"], row["operator"])} for row in latest_settlements()],
    }
    return TemplateResponse(request, "reports/dashboard.html", context)


def _sales_chart(
    rows: list[dict], by_operator: dict[tuple[date, str], dict], names: dict[str, str], rtl: bool
) -> Chart:
    """The sales cards day by day: the gross stacked per operator (in code
    order) above the axis, the refunds below it, the net as a tick."""
    days = [row["date"] for row in rows]
    empty = {"amount": 0, "recharges": 0}
    series = [
        Series(
            names.get(operator, operator),
            [by_operator.get((day, operator), empty)["amount"] for day in days],
            counts=[by_operator.get((day, operator), empty)["recharges"] for day in days],
        )
        for operator in sorted({operator for (_day, operator) in by_operator})
    ]
    figures = [selectors.period_figures([row]) for row in rows]
    series.append(Series(_("refunds"), [day["refunds"] for day in figures], below=True))
    return bar_chart(days, series, marks=Series(_("net"), [day["net"] for day in figures]), rtl=rtl)
