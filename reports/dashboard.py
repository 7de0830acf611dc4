"""The staff dashboard: a page of the admin (linked from its index)."""

from datetime import timedelta

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from config.permissions import requires
from reports import charts, selectors
from reports.api import LEDGER_VIEW_PERMISSION

CHART_DAYS = 30


@requires(LEDGER_VIEW_PERMISSION)
def dashboard(request):
    today = selectors.business_today()
    first_day = today - timedelta(CHART_DAYS - 1)
    days = [first_day + timedelta(i) for i in range(CHART_DAYS)]
    report = selectors.daily_report(date_from=first_day, date_to=today)
    deliveries = selectors.delivery_overview(since=first_day, now=timezone.now())
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "today": today,
        "totals": selectors.period_totals(today=today),
        "waiting": selectors.pending_credit_requests(),
        "deliveries": deliveries,
        "horizon_hours": int(selectors.delivery_horizon().total_seconds() // 3600),
        "sales_chart": charts.stacked_bars("Sales per day, last 30 days", days, _sales_series(days, deliveries)),
        "top_up_chart": charts.stacked_bars(
            "Approved top-ups per day, last 30 days", days, {"top-ups": [row["credited_amount"] for row in report]}
        ),
        "top_sellers": selectors.top_sellers(since=first_day),
    }
    return TemplateResponse(request, "reports/dashboard.html", context)


def _sales_series(days, deliveries) -> dict[str, list[int]]:
    """One series of daily sales per operator that sold, in code order."""
    operators = sorted({operator for _, operator in deliveries["daily_sales"]})
    return {operator: [deliveries["daily_sales"].get((day, operator), 0) for day in days] for operator in operators}
