"""Staff find recharges and resolve one that is stuck, through the real admin."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger.models import LedgerEntry
from recharges.models import Recharge
from recharges.services import sell_recharge
from tests.helpers.api import nothing_written


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def stuck(make_seller):
    seller = make_seller(balance=50_000)
    sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=7_000)
    recharge = Recharge.objects.get(seller=seller)
    Recharge.objects.filter(pk=recharge.pk).update(next_attempt_at=None, topup_requested_at="2026-01-01T00:00:00Z")
    return recharge


def test_staff_find_a_recharge_by_the_number_as_people_type_it(admin_client, stuck):
    page = admin_client.get("/admin/recharges/recharge/", {"q": "0912 123 4567"})
    assert page.status_code == 200
    assert f">{stuck.pk}<" in page.content.decode()
    stuck_list = admin_client.get("/admin/recharges/recharge/", {"delivery": "stuck"})
    assert "Resolve…" in stuck_list.content.decode()


def test_staff_resolve_a_stuck_recharge_as_failed_with_its_refund(admin_client, stuck):
    url = f"/admin/recharges/recharge/{stuck.pk}/resolve/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"outcome": "failed"})
    assert response.status_code == 302
    stuck.refresh_from_db()
    assert (stuck.status, stuck.failure_code, stuck.resolved_by_id) == ("failed", "not_delivered", admin_client.user.pk)
    assert LedgerEntry.objects.get(recharge=stuck, kind="refund").amount == 7_000
    # Resolving again changes nothing.
    admin_client.post(url, {"outcome": "successful", "operator_reference": "X1"})
    stuck.refresh_from_db()
    assert stuck.status == "failed"


@pytest.mark.parametrize("outcome", ["failed", "successful"])
def test_staff_may_not_resolve_a_recharge_whose_top_up_is_in_flight(admin_client, stuck, outcome):
    """Sent, and the worker still asks the operator about it (a lease or a
    backoff ahead): the operator may yet deliver it, so a failure's refund
    would pay twice. Once the worker gives it up, staff resolve it."""
    Recharge.objects.filter(pk=stuck.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    listing = admin_client.get("/admin/recharges/recharge/").content.decode()
    assert "Pending (being delivered)" in listing and "Resolve…" not in listing
    url = f"/admin/recharges/recharge/{stuck.pk}/resolve/"
    with nothing_written():
        response = admin_client.post(url, {"outcome": outcome, "operator_reference": "MCI-1"}, follow=True)
    assert "the worker is still asking the operator for its outcome" in response.content.decode()
    assert Recharge.objects.get(pk=stuck.pk).status == "pending"

    Recharge.objects.filter(pk=stuck.pk).update(next_attempt_at=None)  # past the horizon: it waits for staff
    admin_client.post(url, {"outcome": outcome, "operator_reference": "MCI-1"})
    assert Recharge.objects.get(pk=stuck.pk).status == outcome


def test_a_successful_resolution_needs_the_operators_reference(admin_client, stuck):
    url = f"/admin/recharges/recharge/{stuck.pk}/resolve/"
    assert admin_client.post(url, {"outcome": "successful", "operator_reference": " "}).status_code == 200
    assert Recharge.objects.get(pk=stuck.pk).status == "pending"
    admin_client.post(url, {"outcome": "successful", "operator_reference": "MCI-1"})
    assert Recharge.objects.values_list("status", "operator_reference").get(pk=stuck.pk) == ("successful", "MCI-1")


def test_staff_see_the_reference_sent_to_the_operator_and_search_by_it(admin_client, stuck, make_seller):
    other = make_seller(balance=50_000)
    sell_recharge(seller_id=other.pk, phone_number="+989121234568", amount=7_000)
    reference = str(Recharge.objects.values_list("topup_reference", flat=True).get(pk=stuck.pk))

    detail = admin_client.get(f"/admin/recharges/recharge/{stuck.pk}/change/").content.decode()
    assert "Top-up reference" in detail and reference in detail
    assert 'name="topup_reference"' not in detail  # shown, not editable
    found = admin_client.get("/admin/recharges/recharge/", {"q": reference.upper()})
    assert found.status_code == 200
    assert f">{stuck.pk}<" in found.content.decode()
    assert "1 result" in found.content.decode()


def test_a_recharges_page_only_shows_it_and_a_save_writes_nothing(admin_client, stuck):
    """The change page shows every field read-only, with no Save; a Save
    posted anyway is refused: it must not write back the row it read over
    what the delivery worker wrote meanwhile."""
    page = admin_client.get(f"/admin/recharges/recharge/{stuck.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.post(f"/admin/recharges/recharge/{stuck.pk}/change/", {"_save": "Save"})
    assert response.status_code == 403
    assert [q["sql"] for q in queries if q["sql"].startswith('UPDATE "recharges_recharge"')] == []
