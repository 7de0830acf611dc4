"""The dashboard's side of the platform's money: each operator's float with
its burn rate and hours left, a banner when one falls under its threshold,
and the last settlement per operator with its open cases."""

import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from recharges.delivery import resolve_recharge
from recharges.floats import record_prepayment
from recharges.services import sell_recharge
from settlement.models import Settlement, SettlementCase

DASHBOARD = "/admin/dashboard/"


def dashboard_page() -> str:
    user = get_user_model().objects.create_user(username="reader", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    client = Client()
    client.force_login(user)
    response = client.get(DASHBOARD)
    assert response.status_code == 200
    return response.content.decode()


def test_no_float_tracked_no_banner_and_no_float_table(db):
    page = dashboard_page()
    assert 'id="floats"' not in page and "float-low" not in page
    assert "No day settled yet." in page


def test_a_float_under_its_threshold_shows_a_banner(seller_a, staff_user):
    record_prepayment(operator="mci", amount=100_000, bank_reference="B-1", created_by=staff_user)
    record_prepayment(operator="irancell", amount=100_000, bank_reference="B-2", created_by=staff_user)
    sold = sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=20_000)
    resolve_recharge(
        recharge_id=json.loads(sold.body)["id"], successful=True, operator_reference="OP-1", resolved_by=staff_user
    )

    page = dashboard_page()

    assert 'id="float-low-mci"' in page  # 80,000 left at 20,000 an hour: 4 hours, under 24
    assert "lasts 4.0 hours" in page
    assert 'id="float-low-irancell"' not in page  # nothing drawn: no rate, no warning
    assert 'id="floats"' in page


def test_the_last_settlement_per_operator_with_its_open_cases(db):
    older = Settlement.objects.create(
        operator_id="mci", day="2026-12-05", statement_lines=3, recharges=3, matched=3, differences=0, seconds=0.1
    )
    latest = Settlement.objects.create(
        operator_id="mci", day="2026-12-06", statement_lines=9, recharges=8, matched=8, differences=1, seconds=0.1
    )
    SettlementCase.objects.create(
        settlement=latest, operator_id="mci", day=latest.day, kind="theirs_only", reference="R"
    )
    assert older.pk < latest.pk

    page = dashboard_page()

    table = page.split('id="settlements"')[1].split("</table>")[0]
    assert "2026-12-06" in table and "2026-12-05" not in table
    assert "state=open" in table
