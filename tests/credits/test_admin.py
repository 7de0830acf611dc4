import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from credits.models import CreditRequest
from credits.services import request_credit
from ledger.models import BalanceAdjustment, LedgerEntry


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser(username="boss", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client, user


def balance_of(seller):
    seller.refresh_from_db()
    return seller.balance


def test_bulk_approve_credits_each_pending_request_once(admin_client, make_seller):
    client, user = admin_client
    seller = make_seller()
    pending = [request_credit(seller_id=seller.pk, amount=1_000 * (i + 1)) for i in range(3)]
    ids = [str(c.pk) for c in pending]
    for _ in range(2):
        response = client.post(
            "/admin/credits/creditrequest/", {"action": "approve_selected", "_selected_action": ids}, follow=True
        )
        assert response.status_code == 200
    assert balance_of(seller) == 6_000
    assert LedgerEntry.objects.filter(seller=seller).count() == 3
    assert set(CreditRequest.objects.values_list("decided_by", flat=True)) == {user.pk}
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["0 approved, 0 awaiting a second approval, 0 refused, 3 already decided."]


def test_bulk_reject_skips_approved_requests(admin_client, make_seller):
    client, _ = admin_client
    seller = make_seller(balance=5_000)
    approved = CreditRequest.objects.get(seller=seller)
    pending = request_credit(seller_id=seller.pk, amount=7_000)
    response = client.post(
        "/admin/credits/creditrequest/",
        {"action": "reject_selected", "_selected_action": [approved.pk, pending.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["1 rejected, 0 refused, 1 already decided."]
    pending.refresh_from_db()
    assert pending.status == "rejected"
    assert balance_of(seller) == 5_000


def test_saving_an_approved_request_in_the_admin_changes_nothing(admin_client, make_seller):
    client, _ = admin_client
    seller = make_seller(balance=5_000)
    approved = CreditRequest.objects.get(seller=seller)
    page = client.get(f"/admin/credits/creditrequest/{approved.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'id="approve"' not in page  # a page to read, no button to press
    response = client.post(
        f"/admin/credits/creditrequest/{approved.pk}/change/", {"amount": 999_999, "status": "pending"}
    )
    assert response.status_code == 403
    approved.refresh_from_db()
    assert (approved.amount, approved.status) == (5_000, "approved")
    assert balance_of(seller) == 5_000


def test_adjustment_in_the_admin_goes_through_the_ledger(admin_client, make_seller):
    client, user = admin_client
    seller = make_seller(balance=5_000)
    response = client.post(
        "/admin/ledger/balanceadjustment/add/",
        {"seller": seller.pk, "amount": -2_000, "reason": "chargeback", "submission": "form-1"},
    )
    assert response.status_code == 302
    assert balance_of(seller) == 3_000
    assert BalanceAdjustment.objects.get().created_by == user
    response = client.post(
        "/admin/ledger/balanceadjustment/add/",
        {"seller": seller.pk, "amount": -3_001, "reason": "too much", "submission": "form-2"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Refused: the balance is 3,000 IRR" in response.content.decode()  # the form, kept, with the balance
    assert balance_of(seller) == 3_000
    assert BalanceAdjustment.objects.count() == 1


def test_seller_balance_is_read_only_in_the_admin(admin_client, make_seller):
    client, _ = admin_client
    seller = make_seller(balance=5_000)
    client.post(
        f"/admin/sellers/seller/{seller.pk}/change/",
        # The commission-rates inline, left empty.
        {"name": "Renamed", "user": seller.user_id, "balance": 10**9, "commission_rates-TOTAL_FORMS": "0"}
        | {"commission_rates-INITIAL_FORMS": "0"},
    )
    seller.refresh_from_db()
    assert (seller.name, seller.balance) == ("Renamed", 5_000)


def test_a_seller_cannot_log_into_the_admin(make_seller):
    seller = make_seller()
    seller.user.set_password("seller-password-1")
    seller.user.save()
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": seller.user.username, "password": "seller-password-1"}
    )
    assert response.status_code == 200  # the login form again, not a redirect into the admin
    assert client.get("/admin/").status_code == 302


def test_a_double_submitted_adjustment_form_posts_once(admin_client, make_seller):
    """The form carries a key of its own (rendered with it): its second
    submit, or a resend, replays the first and moves nothing more, as the
    API's Idempotency-Key does."""
    client, _ = admin_client
    seller = make_seller(balance=5_000)
    page = client.get("/admin/ledger/balanceadjustment/add/").content.decode()
    key = re.search(r'name="submission" value="(admin-[0-9a-f-]{36})"', page).group(1)
    form = {"seller": seller.pk, "amount": -777, "reason": "chargeback 42", "submission": key}
    first, again = (
        client.post("/admin/ledger/balanceadjustment/add/", form),
        client.post("/admin/ledger/balanceadjustment/add/", form),
    )
    assert (first.status_code, again.status_code) == (302, 302)
    assert balance_of(seller) == 5_000 - 777
    assert BalanceAdjustment.objects.count() == 1
    fresh = re.search(
        r'name="submission" value="([^"]+)"', client.get("/admin/ledger/balanceadjustment/add/").content.decode()
    )
    assert fresh.group(1) != key  # each rendered form has its own
    client.post("/admin/ledger/balanceadjustment/add/", {**form, "submission": fresh.group(1)})
    assert balance_of(seller) == 5_000 - 2 * 777
