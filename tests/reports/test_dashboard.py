"""The staff dashboard in the admin: exact figures, gross and net as the daily
report counts them, server-drawn SVG charts that add up to the cards and read
right to left in Persian, who may see it."""

import itertools
import json
import re
from datetime import timedelta

import jdatetime
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import dateformat

from config.dates import month_first
from credits.services import request_credit
from recharges.delivery import resolve_recharge
from recharges.models import Operator
from recharges.services import sell_recharge
from reports.selectors import business_today, daily_report, day_start
from tests.helpers.ledger_entries import entry_at

DASHBOARD = "/admin/dashboard/"
_numbers = itertools.count(1)
MCI, IRANCELL = "+989121234567", "+989351234567"


def staff_client(*permissions: str, language: str = "en") -> Client:
    user = get_user_model().objects.create_user(username=f"staff-{next(_numbers)}", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def text(html: str) -> str:
    """Tags removed, spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def card(html: str, card_id: str) -> str:
    """The text of one dashboard card."""
    block = re.search(
        rf'<div class="card" id="{card_id}">(.*?)</div>\s*(?=<div class="card"|</div>)', html, re.S
    ).group(1)
    return text(block)


@pytest.fixture
def activity(make_seller, staff_user):
    """Today: two sellers' top-ups (10,000,000) and three sales: 50,000 to mci
    delivered, 70,000 to irancell failed and refunded, 20,000 to mci pending;
    a sale of yesterday (40,000, mci) failed and refunded today. Yesterday
    noon: a top-up (400,000) and a delivered sale (300,000, mci). 40 days ago:
    a sale still pending (stuck, outside every 30-day figure). Two credit
    requests waiting. Operators have their Persian names."""
    Operator.objects.filter(code="mci").update(name_fa="همراه اول")
    Operator.objects.filter(code="irancell").update(name_fa="ایرانسل")
    big, small = make_seller(name="Big shop", balance=9_000_000), make_seller(name="Small shop", balance=1_000_000)
    delivered, failed, _ = (
        json.loads(sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount).body)["id"]
        for seller, phone, amount in [(big, MCI, 50_000), (big, IRANCELL, 70_000), (small, MCI, 20_000)]
    )
    resolve_recharge(recharge_id=delivered, successful=True, operator_reference="op-1", resolved_by=staff_user)
    resolve_recharge(recharge_id=failed, successful=False, resolved_by=staff_user)
    yesterday_noon = day_start(business_today() - timedelta(1)) + timedelta(hours=12)
    old_sale = entry_at(small.pk, "recharge", -300_000, yesterday_noon)
    resolve_recharge(
        recharge_id=old_sale.recharge_id, successful=True, operator_reference="op-2", resolved_by=staff_user
    )
    late_failure = entry_at(big.pk, "recharge", -40_000, yesterday_noon)
    resolve_recharge(recharge_id=late_failure.recharge_id, successful=False, resolved_by=staff_user)
    entry_at(small.pk, "credit", 400_000, yesterday_noon)
    entry_at(big.pk, "recharge", -1_000, day_start(business_today() - timedelta(40)))
    request_credit(seller_id=small.pk, amount=2_500_000)
    request_credit(seller_id=big.pk, amount=500_000)
    return big, small


def _month_figures(jalali: bool) -> dict:
    """This month's figures by hand: yesterday counts when it is in today's month."""
    today = business_today()
    same_month = month_first(today, jalali=jalali) <= today - timedelta(1)
    return {
        "gross": 140_000 + (340_000 if same_month else 0),
        "refunds": 110_000,
        "sales": 3 + (2 if same_month else 0),
        "top_ups": 10_000_000 + (400_000 if same_month else 0),
    }


def test_the_cards_in_english(activity):
    html = staff_client("view_ledgerentry").get(DASHBOARD).content.decode()
    today = business_today()
    assert text(re.search(r'<p id="business-day">(.*?)</p>', html).group(1)) == (
        f"Business day {today.isoformat()}; figures by calendar day in the business time zone."
    )
    assert card(html, "sales-today") == ("Sales today Gross 140,000 IRR Refunds 110,000 IRR Net 30,000 IRR 3 sales")
    month = _month_figures(jalali=False)
    assert card(html, "sales-month") == (
        f"Sales in {dateformat.format(today, 'F Y')} Gross {month['gross']:,} IRR Refunds 110,000 IRR "
        f"Net {month['gross'] - 110_000:,} IRR {month['sales']} sales"
    )
    assert card(html, "top-ups") == (
        f"Approved top-ups Today 10,000,000 IRR {dateformat.format(today, 'F Y')} {month['top_ups']:,} IRR"
    )
    assert card(html, "waiting") == "Credit requests waiting 2 3,000,000 IRR"
    assert card(html, "deliveries") == "Deliveries pending 2 1 stuck over 24 h"
    # Figures are isolated left to right, so a Persian page cannot reorder them.
    assert '<dd class="net figure"><bdi dir="ltr">30,000</bdi> IRR</dd>' in html


def test_the_cards_in_persian(activity):
    html = staff_client("view_ledgerentry", language="fa").get(DASHBOARD).content.decode()
    assert 'dir="rtl"' in html
    today = jdatetime.date.fromgregorian(date=business_today())
    assert text(re.search(r'<p id="business-day">(.*?)</p>', html).group(1)) == (
        f"روز کاری {today.strftime('%Y/%m/%d')}؛ ارقام بر اساس روز تقویمی در منطقهٔ زمانی کسب‌وکار."
    )
    assert card(html, "sales-today") == "فروش امروز ناخالص 140,000 ریال بازپرداخت 110,000 ریال خالص 30,000 ریال 3 فروش"
    month = _month_figures(jalali=True)
    month_name = jdatetime.date.fromgregorian(date=business_today(), locale="fa_IR").strftime("%B %Y")
    assert card(html, "sales-month") == (
        f"فروش {month_name} ناخالص {month['gross']:,} ریال بازپرداخت 110,000 ریال "
        f"خالص {month['gross'] - 110_000:,} ریال {month['sales']} فروش"
    )
    assert (
        card(html, "top-ups") == f"افزایش اعتبار تأییدشده امروز 10,000,000 ریال {month_name} {month['top_ups']:,} ریال"
    )
    assert card(html, "deliveries") == "تحویل‌های در انتظار 2 1 مورد بیش از 24 ساعت مانده"
    operators = re.findall(
        r"<tr><td>([^<]+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>\s*<td>(.*?)</td></tr>", html
    )
    assert operators == [
        ("ایرانسل", "0", "1", "0", '<bdi dir="ltr">0.0%</bdi>'),
        ("همراه اول", "2", "1", "1", '<bdi dir="ltr">66.7%</bdi>'),
    ]
    assert "mci" not in text(html[html.index('<div id="content-main">') :])


@pytest.mark.parametrize("language", ["en", "fa"])
def test_cards_chart_and_daily_report_agree(activity, ledger_staff_client, language):
    """Today's gross, refunds and net: the card, the chart's newest bar and
    the daily report (selector and API) give the same rials."""
    response = staff_client("view_ledgerentry", language=language).get(DASHBOARD)
    today = business_today()
    (report,) = daily_report(date_from=today, date_to=today)
    api = ledger_staff_client.get(f"/api/v1/reports/daily/?from={today}&to={today}").json()["results"][0]
    assert (report["recharged_amount"], report["refunded_amount"], report["recharges"]) == (140_000, 110_000, 3)
    assert (api["recharged_amount"], api["refunded_amount"], api["recharges"]) == (140_000, 110_000, 3)

    figures = response.context["figures"]["today"]
    assert (figures["gross"], figures["refunds"], figures["net"], figures["recharges"]) == (140_000, 110_000, 30_000, 3)
    shown = re.findall(r"\d[\d,]*", card(response.content.decode(), "sales-today"))
    assert shown == [f"{figures['gross']:,}", f"{figures['refunds']:,}", f"{figures['net']:,}", "3"]

    chart = response.context["sales_chart"]
    newest = [bar for bar in chart.bars if bar.day == today]
    assert sum(bar.value for bar in newest if not bar.below) == report["recharged_amount"]
    assert sum(bar.count for bar in newest if not bar.below) == report["recharges"]
    assert sum(bar.value for bar in newest if bar.below) == report["refunded_amount"]
    (net,) = [mark.value for mark in chart.marks if mark.day == today]
    assert net == report["recharged_amount"] - report["refunded_amount"] == 30_000
    # Every day of the chart adds up to the report's row of that day.
    rows = {row["date"]: row for row in daily_report(date_from=today - timedelta(29), date_to=today)}
    for day, row in rows.items():
        bars = [bar for bar in chart.bars if bar.day == day]
        assert sum(bar.value for bar in bars if not bar.below) == row["recharged_amount"]
        assert sum(bar.value for bar in bars if bar.below) == row["refunded_amount"]
    assert sum(row["recharged_amount"] for row in rows.values()) == 480_000  # the 40-day-old sale is out


def test_the_charts_in_english(activity):
    html = staff_client("view_ledgerentry").get(DASHBOARD).content.decode()
    content = html[html.index('<div id="content-main">') : html.index("<!-- END Content -->")]
    assert "<script" not in content and content.count('role="img"') == 2
    sales_svg, top_up_svg = re.findall(r'<svg [^>]*role="img".*?</svg>', html, re.S)
    today, yesterday = business_today(), business_today() - timedelta(1)
    assert re.findall(r"<title>([^<]+)</title>", top_up_svg) == [
        f"{yesterday} top-ups: 400,000 IRR",
        f"{today} top-ups: 10,000,000 IRR",
    ]
    titles = re.findall(r"<title>([^<]+)</title>", sales_svg)
    assert [title for title in titles if title.startswith((str(yesterday), str(today)))] == [
        # Oldest day first; each day: gross per operator, then refunds; then the net ticks.
        f"{yesterday} MCI (Hamrah-e Aval): 340,000 IRR (2)",
        f"{today} Irancell: 70,000 IRR (1)",
        f"{today} MCI (Hamrah-e Aval): 70,000 IRR (2)",
        f"{today} refunds: 110,000 IRR",
        f"{yesterday} net: 340,000 IRR",
        f"{today} net: 30,000 IRR",
    ]
    legend = re.search(r'<p class="chart-legend">(.*?)</p>', html, re.S).group(1)
    assert text(legend) == "Irancell MCI (Hamrah-e Aval) refunds net"
    rows = re.findall(
        r"<tr><td><a [^>]+>([^<]+)</a></td><td>(\d+)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", html
    )
    # Top sellers over 30 days by gross: small (320,000 in 2), then big (160,000 in 3; the 40-day-old sale is out).
    assert [tuple(text(cell) for cell in row) for row in rows] == [
        ("Small shop", "2", "320,000 IRR", "0 IRR", "320,000 IRR"),
        ("Big shop", "3", "160,000 IRR", "110,000 IRR", "50,000 IRR"),
    ]


@pytest.mark.parametrize("language", ["en", "fa"])
def test_the_charts_read_in_the_pages_direction_and_their_labels_fit(activity, language):
    response = staff_client("view_ledgerentry", language=language).get(DASHBOARD)
    today = business_today()
    for chart in (response.context["sales_chart"], response.context["top_up_chart"]):
        assert chart.rtl is (language == "fa")
        by_x = sorted(chart.labels, key=lambda label: label.x)
        # Newest at the right in English, at the left in Persian; every fifth day back is labelled.
        newest_first = language == "fa"
        assert (by_x[0] if newest_first else by_x[-1]).day == today
        assert [label.day for label in (by_x if newest_first else by_x[::-1])] == [
            today - timedelta(days) for days in range(0, 30, 5)
        ]
        # A label is centred under its day; five characters of 11 px fit on either side.
        assert all(20 <= label.x <= chart.width - 20 for label in chart.labels)
        # The value axis stands on the side the days start from.
        assert chart.value_axis == (chart.width - 24 if newest_first else 24)
        newest = [bar.x for bar in chart.bars if bar.day == today]
        older = [bar.x for bar in chart.bars if bar.day < today]
        assert (max(newest) < min(older)) if newest_first else (min(newest) > max(older))
    svg = re.findall(r'<svg [^>]*role="img".*?</svg>', response.content.decode(), re.S)[0]
    day_labels = re.findall(r'<text class="day"[^>]*>([^<]+)</text>', svg)
    newest_label = (
        jdatetime.date.fromgregorian(date=today).strftime("%m/%d") if language == "fa" else today.strftime("%m-%d")
    )
    assert newest_label in day_labels and all(re.fullmatch(r"\d\d[/-]\d\d", label) for label in day_labels)


def test_the_index_links_the_dashboard(db):
    html = staff_client("view_ledgerentry").get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in html
    assert 'href="/admin/dashboard/"' not in staff_client().get("/admin/").content.decode()
    persian = staff_client("view_ledgerentry", language="fa").get("/admin/").content.decode()
    assert re.search(r'<a href="/admin/dashboard/">پیشخوان: ', persian)


def test_who_may_see_the_dashboard(make_seller):
    assert staff_client().get(DASHBOARD).status_code == 403
    assert Client().get(DASHBOARD).status_code == 302  # to the admin login
    assert staff_client("view_ledgerentry").get(DASHBOARD).status_code == 200
