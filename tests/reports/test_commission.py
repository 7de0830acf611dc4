"""Commission in reports, exports and the staff dashboard: a commission
counts on the business day (Asia/Tehran) its ledger entry is written, like
every other entry; exact sums, live and from the summed days alike."""

import importlib
import json
import re
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.utils import dateformat

from recharges.delivery import resolve_recharge
from recharges.models import CommissionRate
from recharges.services import sell_recharge
from reports.models import DayTotal
from reports.selectors import EXPORT_HEADER, business_today, daily_report, day_start
from reports.services import summarize_days
from tests.helpers.api import API
from tests.helpers.commissions import commissioned_sale_at
from tests.helpers.ledger_entries import entry_at, utc

REPORT = f"{API}/reports/daily/"
FIGURES = ("recharges", "recharged_amount", "credited_amount", "commission_amount")


@pytest.fixture
def earnings(make_seller):
    """Seller A: 100,000 at 2.5 % paid at 23:59:59 Tehran on Jan 9 (2,500),
    33,333 at 4 % sold that evening and paid at midnight, so on Jan 10
    (1,333). Seller B: 50,000 at 100 % on Jan 10 (50,000)."""
    a, b = make_seller(name="Shop A"), make_seller(name="Shop B")
    entry_at(a.pk, "credit", 1_000_000, utc(2026, 1, 9, 10, 0))
    entry_at(b.pk, "credit", 100_000, utc(2026, 1, 10, 8, 0))
    sales = [
        (a, 100_000, 250, 2_500, utc(2026, 1, 9, 20, 0), utc(2026, 1, 9, 20, 29, 59)),
        (a, 33_333, 400, 1_333, utc(2026, 1, 9, 20, 10), utc(2026, 1, 9, 20, 30)),
        (b, 50_000, 10_000, 50_000, utc(2026, 1, 10, 10, 0), utc(2026, 1, 10, 11, 0)),
    ]
    for seller, amount, rate, commission, sold_at, paid_at in sales:
        commissioned_sale_at(
            seller.pk, amount=amount, rate=rate, commission=commission, sold_at=sold_at, paid_at=paid_at
        )
    return a, b


def figures(rows) -> list[tuple]:
    return [(str(row["date"]), *(row[name] for name in FIGURES), row.get("balance_end")) for row in rows]


A_DAYS = [
    ("2026-01-09", 2, 133_333, 1_000_000, 2_500, 869_167),
    ("2026-01-10", 0, 0, 0, 1_333, 870_500),
    ("2026-01-11", 0, 0, 0, 0, 870_500),
]
ALL_DAYS = [
    ("2026-01-09", 2, 133_333, 1_000_000, 2_500, None),
    ("2026-01-10", 1, 50_000, 100_000, 51_333, None),
    ("2026-01-11", 0, 0, 0, 0, None),
]


def test_the_daily_report_counts_each_commission_on_its_entrys_day(earnings, seller_client, ledger_staff_client):
    a, b = earnings
    params = {"from": "2026-01-09", "to": "2026-01-11"}
    assert figures(seller_client(a).get(REPORT, params).json()["results"]) == A_DAYS
    assert figures(ledger_staff_client.get(REPORT, {**params, "seller": a.pk}).json()["results"]) == A_DAYS
    assert figures(ledger_staff_client.get(REPORT, params).json()["results"]) == ALL_DAYS
    rows = seller_client(b).get(REPORT, params).json()["results"]
    assert [row["commission_amount"] for row in rows] == [0, 50_000, 0]
    a.refresh_from_db()
    assert a.balance == 870_500


def reports(a, b) -> list:
    first, last = date(2026, 1, 8), date(2026, 1, 12)
    return [daily_report(date_from=first, date_to=last, seller_id=seller) for seller in (None, a.pk, b.pk)]


def test_summed_days_hold_the_same_commissions(earnings):
    a, b = earnings
    live = reports(a, b)
    summarize_days(now=utc(2026, 1, 11, 12, 0))  # through Jan 10
    assert dict(DayTotal.objects.filter(seller=None).values_list("day", "commission_amount")) == {
        date(2026, 1, 9): 2_500,
        date(2026, 1, 10): 51_333,
    }
    assert sorted(DayTotal.objects.filter(seller__isnull=False).values_list("seller", "day", "commission_amount")) == [
        (a.pk, date(2026, 1, 9), 2_500),
        (a.pk, date(2026, 1, 10), 1_333),
        (b.pk, date(2026, 1, 10), 50_000),
    ]
    assert reports(a, b) == live


def test_the_migration_sums_the_commissions_of_days_already_summed(earnings):
    """Days summed before the column existed got 0; the migration sums them
    from the ledger, in the time zone they were summed in."""
    summarize_days(now=utc(2026, 1, 11, 12, 0))
    rows = DayTotal.objects.order_by("seller", "day").values_list("seller", "day", "commission_amount", "net")
    summed = list(rows)
    assert {commission for _, _, commission, _ in summed} == {1_333, 2_500, 50_000, 51_333}
    DayTotal.objects.update(commission_amount=0)
    migration = importlib.import_module("reports.migrations.0003_day_total_commission")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    assert list(rows.all()) == summed


def test_the_exports_show_commission_entries_like_any_other(earnings, seller_client, ledger_staff_client):
    a, _ = earnings
    recharges = list(a.recharges.order_by("pk").values_list("pk", flat=True))
    expected = EXPORT_HEADER + "".join(
        f"{line}\n"
        for line in [
            "1,2026-01-09T10:00:00.000000Z,credit,1000000,1000000,credit_request," + str(_credit_request(a)),
            f"2,2026-01-09T20:00:00.000000Z,recharge,-100000,900000,recharge,{recharges[0]}",
            f"3,2026-01-09T20:29:59.000000Z,commission,2500,902500,recharge,{recharges[0]}",
            f"4,2026-01-09T20:10:00.000000Z,recharge,-33333,869167,recharge,{recharges[1]}",
            f"5,2026-01-09T20:30:00.000000Z,commission,1333,870500,recharge,{recharges[1]}",
        ]
    )
    for client, path in (
        (seller_client(a), f"{API}/transactions/export/"),
        (ledger_staff_client, f"{API}/sellers/{a.pk}/transactions/export/"),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert b"".join(response.streaming_content).decode() == expected
    # And the transactions list names the kind the same way.
    kinds = [
        row["kind"] for row in seller_client(a).get(f"{API}/transactions/", {"kind": "commission"}).json()["results"]
    ]
    assert kinds == ["commission", "commission"]


def _credit_request(seller) -> int:
    return seller.ledger_entries.get(kind="credit").credit_request_id


def dashboard_card(html: str, card_id: str) -> str:
    block = re.search(
        rf'<div class="card" id="{card_id}">(.*?)</div>\s*(?=<div class="card"|</div>)', html, re.S
    ).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", block).split())


def test_the_dashboard_shows_commission_paid_today_and_this_month(make_seller, staff_user):
    """Today: 50,000 at 2.5 % delivered (1,250), 70,000 failed (none), 9,999
    pending (none yet); earlier this month, when there is an earlier day:
    20,000 at 10 % (2,000); 40 days ago, outside the month: 30,000 at 10 %."""
    seller = make_seller(name="Earner", balance=1_000_000)
    CommissionRate.objects.create(seller=seller, operator_id="mci", rate=250)
    ids = [
        json.loads(sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount).body)["id"]
        for phone, amount in (("+989121234567", 50_000), ("+989121234568", 70_000), ("+989121234569", 9_999))
    ]
    resolve_recharge(recharge_id=ids[0], successful=True, operator_reference="OP-1", resolved_by=staff_user)
    resolve_recharge(recharge_id=ids[1], successful=False, resolved_by=staff_user)
    today = business_today()
    earlier_this_month = today.day > 1
    if earlier_this_month:
        noon = day_start(today.replace(day=1)) + timedelta(hours=12)
        commissioned_sale_at(seller.pk, amount=20_000, rate=1_000, commission=2_000, sold_at=noon, paid_at=noon)
    long_ago = day_start(today - timedelta(40)) + timedelta(hours=12)
    commissioned_sale_at(seller.pk, amount=30_000, rate=1_000, commission=3_000, sold_at=long_ago, paid_at=long_ago)

    user = get_user_model().objects.create_user(username="dash", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    client = Client()
    client.force_login(user)
    html = client.get("/admin/dashboard/").content.decode()
    month_amount = 3_250 if earlier_this_month else 1_250
    assert dashboard_card(html, "commissions") == (
        f"Commission paid Today 1,250 IRR {dateformat.format(today, 'F Y')} {month_amount:,} IRR"
    )
