"""The admin lists staff search: ledger filters and phone numbers, amounts
with separators, sellers' add form, the overdraft refusal, CSV export."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from knox.models import AuthToken

from config.constants import MAX_AMOUNT
from credits.services import request_credit
from ledger.models import BalanceAdjustment, LedgerEntry
from recharges.services import sell_recharge
from sellers.models import Seller
from tests.helpers.api import nothing_written
from tests.helpers.ledger_entries import entry_at


@pytest.fixture
def admin(db):
    user = get_user_model().objects.create_superuser(username="boss", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def sold(make_seller):
    seller = make_seller(name="Shop A", balance=50_000_000)
    assert sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=5_000).status_code == 201
    entry_at(seller.pk, "adjustment", 300, datetime(2026, 1, 10, 8, tzinfo=UTC))
    return seller


def page(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_ledger_list_shows_phone_numbers_and_formatted_amounts(admin, sold):
    html = page(admin.get("/admin/ledger/ledgerentry/"))
    assert "0912 123 4567" in html
    assert "-5,000 IRR" in html and "49,995,000 IRR" in html and "+50,000,000 IRR" in html


def test_ledger_list_filters_by_seller_date_and_phone(admin, sold, make_seller):
    other = make_seller(name="Shop B", balance=7_000)
    by_seller = page(admin.get("/admin/ledger/ledgerentry/", {"seller__id__exact": other.pk}))
    assert "+7,000 IRR" in by_seller and "-5,000 IRR" not in by_seller
    # Jan 10 in Tehran (08:00 UTC is 11:30 there): the business-day filter (config/admin_dates.py).
    by_day = admin.get(
        "/admin/ledger/ledgerentry/", {"created_at__since": "2026-01-10", "created_at__until": "2026-01-10"}
    )
    assert [entry.amount for entry in by_day.context["cl"].result_list] == [300]
    by_phone = admin.get("/admin/ledger/ledgerentry/", {"q": "+989121234567"})
    assert [entry.amount for entry in by_phone.context["cl"].result_list] == [-5_000]


def test_ledger_export_action_streams_csv(admin, sold):
    ids = list(LedgerEntry.objects.values_list("pk", flat=True))
    response = admin.post("/admin/ledger/ledgerentry/", {"action": "export_csv", "_selected_action": ids})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["seller_id", "sequence", "created_at", "kind", "amount", "balance_after"]
    assert [row[3:6] for row in rows[1:]] == [
        ["credit", "50000000", "50000000"],
        ["recharge", "-5000", "49995000"],
        ["adjustment", "300", "49995300"],
    ]


def test_add_forms_show_no_database_default(admin):
    for url in ["/admin/sellers/seller/add/", "/admin/credits/creditrequest/add/"]:
        html = page(admin.get(url))
        assert "DatabaseDefault" not in html and "Created at" not in html


def test_a_seller_added_in_the_admin_gets_a_token_shown_once(admin):
    user = get_user_model().objects.create_user(username="corner-shop")
    response = admin.post("/admin/sellers/seller/add/", {"user": user.pk, "name": "Corner shop"}, follow=True)
    seller = Seller.objects.get(user=user)
    (message,) = [str(m) for m in response.context["messages"] if "API token" in str(m)]
    key = message.rsplit(" ", 1)[1]
    assert AuthToken.objects.filter(user=user).count() == 1
    me = Client().get("/api/v1/me/", headers={"Authorization": f"Token {key}"}).json()
    assert (me["id"], me["name"], me["balance"]) == (seller.pk, "Corner shop", 0)


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_superuser": True, "is_staff": True}])
def test_a_staff_user_cannot_become_a_seller(admin, flags):
    user = get_user_model().objects.create_user(username="clerk", **flags)
    response = admin.post("/admin/sellers/seller/add/", {"user": user.pk, "name": "Clerk's shop"})
    assert "This user is staff; a seller needs its own non-staff user." in page(response)
    assert not Seller.objects.exists()


def test_credit_requests_show_their_seller(admin, make_seller):
    seller = make_seller(name="Shop Q")
    request_credit(seller_id=seller.pk, amount=2_500_000)
    html = page(admin.get("/admin/credits/creditrequest/"))
    assert f"Shop Q (#{seller.pk})" in html and "2,500,000 IRR" in html


def test_overdraft_refusal_keeps_the_form_and_shows_the_balance(admin, make_seller):
    seller = make_seller(balance=1_234_567)
    response = admin.post(
        "/admin/ledger/balanceadjustment/add/",
        {"seller": seller.pk, "amount": -2_000_000, "reason": "chargeback 77", "submission": "form-1"},
    )
    html = page(response)
    assert "Refused: the balance is 1,234,567 IRR; a debit of 2,000,000 IRR would overdraw it." in html
    assert 'value="chargeback 77"' in html and 'value="-2000000"' in html
    assert not BalanceAdjustment.objects.exists()


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        ("/admin/ledger/balanceadjustment/add/", {"amount": 0, "reason": "x"}, "An adjustment may not be 0."),
        (
            "/admin/ledger/balanceadjustment/add/",
            {"amount": MAX_AMOUNT + 1, "reason": "x"},
            f"Ensure this value is less than or equal to {MAX_AMOUNT}.",
        ),
        ("/admin/credits/creditrequest/add/", {"amount": 0}, "Ensure this value is greater than or equal to 1."),
        (
            "/admin/credits/creditrequest/add/",
            {"amount": MAX_AMOUNT + 1},
            f"Ensure this value is less than or equal to {MAX_AMOUNT}.",
        ),
    ],
)
def test_an_amount_out_of_range_is_a_clear_form_error(admin, make_seller, path, fields, message):
    """The database's CHECK would refuse it too; the form says why, in words."""
    seller = make_seller(balance=1_000)
    with nothing_written():
        html = page(admin.post(path, {"seller": seller.pk, "submission": "form-1", **fields}))
    assert message in html and "Constraint" not in html
