"""The staff dashboard in the admin: exact figures, server-drawn SVG charts,
who may see it."""

import itertools
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from credits.services import request_credit
from recharges.delivery import resolve_recharge
from recharges.services import sell_recharge
from reports.selectors import business_today, day_start
from tests.helpers.ledger_entries import entry_at

DASHBOARD = "/admin/dashboard/"
_numbers = itertools.count(1)
MCI, IRANCELL = "+989121234567", "+989351234567"


def staff_client(*permissions: str) -> Client:
    user = get_user_model().objects.create_user(username=f"staff-{next(_numbers)}", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def card(html: str, card_id: str) -> str:
    """The text of one dashboard card, tags removed, spaces squeezed."""
    block = re.search(
        rf'<div class="card" id="{card_id}">(.*?)</div>\s*(?=<div class="card"|</div>)', html, re.S
    ).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", block).split())


@pytest.fixture
def activity(make_seller, staff_user):
    """Today: two sellers' top-ups and three sales (one delivered to mci, one
    failed and refunded at irancell, one pending); yesterday noon: a top-up
    and a delivered sale; 40 days ago: a sale still pending (stuck, outside
    every 30-day figure); two credit requests waiting."""
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
    entry_at(small.pk, "credit", 400_000, yesterday_noon)
    entry_at(big.pk, "recharge", -1_000, day_start(business_today() - timedelta(40)))
    request_credit(seller_id=small.pk, amount=2_500_000)
    request_credit(seller_id=big.pk, amount=500_000)
    return big, small, yesterday_noon


def test_figures_charts_and_top_sellers(activity):
    _, _, yesterday_noon = activity
    html = staff_client("view_ledgerentry").get(DASHBOARD).content.decode()

    assert card(html, "sales-today") == "Sales today 140,000 IRR 3 recharges"
    same_month = yesterday_noon.astimezone(day_start(business_today()).tzinfo).month == business_today().month
    month_sales, month_count = (440_000, 4) if same_month else (140_000, 3)
    assert card(html, "sales-month") == f"Sales this month {month_sales:,} IRR {month_count} recharges"
    month_top_ups = 10_000_000 + (400_000 if same_month else 0)
    assert card(html, "top-ups") == (
        f"Approved top-ups today / month 10,000,000 IRR {month_top_ups:,} IRR this month ({3 if same_month else 2})"
    )
    assert card(html, "refunds") == "Refunds today / month 70,000 IRR 70,000 IRR this month (1)"
    assert card(html, "waiting") == "Credit requests waiting 2 3,000,000 IRR"
    assert card(html, "deliveries") == "Deliveries pending 2 1 stuck over 24 h"

    operators = re.findall(
        r"<tr><td>(\w+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>\s*<td>([^<]+)</td></tr>", html
    )
    assert operators == [("irancell", "0", "1", "0", "0.0%"), ("mci", "2", "0", "1", "100.0%")]

    # Top sellers over 30 days: small (320,000 in 2) before big (120,000 in 2; the 40-day-old sale is out).
    rows = re.findall(r"<tr><td><a [^>]+>([^<]+)</a></td><td>(\d+)</td><td>([^<]+)</td></tr>", html)
    assert rows == [("Small shop", "2", "320,000 IRR"), ("Big shop", "2", "120,000 IRR")]

    # Two charts of 30 days, drawn as SVG on the server, no script.
    content = html[html.index('<div id="content-main">') : html.index("<!-- END Content -->")]
    assert "<script" not in content and content.count('role="img"') == 2
    sales_svg, top_up_svg = re.findall(r'<svg [^>]*role="img".*?</svg>', html, re.S)
    today = business_today()
    assert re.findall(r"<title>([^<]+)</title>", top_up_svg) == [
        f"{today - timedelta(1)} top-ups: 400,000 IRR",
        f"{today} top-ups: 10,000,000 IRR",
    ]
    # Sales per operator; the failed irancell sale was refunded and is not a sale.
    assert re.findall(r"<title>([^<]+)</title>", sales_svg) == [
        f"{today - timedelta(1)} mci: 300,000 IRR",
        f"{today} mci: 70,000 IRR",
    ]


def test_the_index_links_the_dashboard(db):
    html = staff_client("view_ledgerentry").get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in html
    assert 'href="/admin/dashboard/"' not in staff_client().get("/admin/").content.decode()


def test_who_may_see_the_dashboard(make_seller):
    assert staff_client().get(DASHBOARD).status_code == 403
    assert Client().get(DASHBOARD).status_code == 302  # to the admin login
    assert staff_client("view_ledgerentry").get(DASHBOARD).status_code == 200
