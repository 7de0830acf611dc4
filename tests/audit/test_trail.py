"""The audit trail (audit/models.py): PostgreSQL's triggers record changes to
money-relevant settings, with who (the request's user), from where (the
client's address) and the values before and after; a sale records nothing;
nobody can edit or delete the trail, not even with raw SQL."""

import json
from typing import Any

import pghistory
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import IntegrityError, ProgrammingError, connection, transaction

from audit.models import Event
from credits.services import approve_credit_request, request_credit
from ledger.services import adjust_balance, approve_adjustment, reject_adjustment
from recharges.models import Operator
from sellers.models import Seller
from sellers.services import rotate_api_token, set_limits
from tests.helpers.api import API, post, recharge_body
from tests.helpers.sellers import client_for

ADDRESS = "198.51.100.7"


def events(**filters) -> list[Any]:
    """The matching events, oldest first (Any: a test reads their JSON values directly)."""
    return list(Event.objects.filter(**filters).order_by("id"))


def test_a_staff_change_of_limits_through_the_api_records_who_where_and_the_values(staff_user, make_seller):
    seller = make_seller()
    client = client_for(staff_user)
    response = client.put(
        f"{API}/sellers/{seller.pk}/limits/",
        json.dumps({"max_recharge_amount": 50_000}),
        content_type="application/json",
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 200
    [event] = events(kind=Event.Kind.SELLER_SETTINGS)
    assert (event.action, event.seller_id, event.actor_id, event.address) == (
        "UPDATE",
        seller.pk,
        staff_user.pk,
        ADDRESS,
    )
    assert event.path == f"{API}/sellers/{seller.pk}/limits/"
    assert (event.before["max_recharge_amount"], event.after["max_recharge_amount"]) == (None, 50_000)
    assert set(event.after) == {
        "max_recharge_amount",
        "daily_amount",
        "number_hourly_count",
        "low_balance_threshold",
        "allowed_networks",
    }


def test_a_sale_writes_no_audit_row(client_a, seller_a):
    before = Event.objects.count()
    for n in range(3):
        assert post(client_a, f"{API}/recharges/", recharge_body(), key=f"audit-{n}").status_code == 201
    # The general path (DRF) too, which updates the seller's row the same way.
    assert post(client_a, f"{API}/recharge-batches/", {"items": [recharge_body()]}).status_code == 201
    assert Event.objects.count() == before
    assert Seller.objects.get(pk=seller_a.pk).ledger_sequence > 1


def test_a_credit_decision_records_the_decider(make_seller, staff_user):
    seller = make_seller()
    credit_request = request_credit(seller_id=seller.pk, amount=10_000)
    response = client_for(staff_user).post(f"{API}/credit-requests/{credit_request.pk}/approve/", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200
    [event] = events(kind=Event.Kind.CREDIT_REQUEST, object_id=str(credit_request.pk))
    assert (event.before["status"], event.after["status"]) == ("pending", "approved")
    assert event.after["decided_by_id"] == event.actor_id == staff_user.pk
    assert (event.seller_id, event.address) == (seller.pk, ADDRESS)
    adjustment = client_for(staff_user).post(
        f"{API}/sellers/{seller.pk}/adjustments/",
        json.dumps({"amount": -500, "reason": "chargeback 1"}),
        content_type="application/json",
    )
    assert adjustment.status_code == 201
    [event] = events(kind=Event.Kind.BALANCE_ADJUSTMENT)
    assert (event.action, event.after["amount"], event.actor_id) == ("INSERT", -500, staff_user.pk)


def test_commission_rates_tokens_and_callback_urls_are_recorded(make_seller, staff_user):
    seller = make_seller()
    client = client_for(staff_user)
    # Issued first: a test runs in one transaction, where the context a request
    # set (transaction-local) lasts until the next write sets it again.
    seller_client = client_for(seller.user)
    operator = Operator.objects.order_by("code").first()
    response = client.put(
        f"{API}/sellers/{seller.pk}/commissions/",
        json.dumps({operator.code: 150}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    [rate] = events(kind=Event.Kind.COMMISSION_RATE)
    assert (rate.seller_id, rate.actor_id, rate.after) == (
        seller.pk,
        staff_user.pk,
        {"operator_id": operator.code, "rate": 150},
    )

    response = seller_client.put(
        f"{API}/me/callback/", json.dumps({"url": "https://shop.example/hooks"}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    [callback] = events(kind=Event.Kind.CALLBACK_ENDPOINT)
    assert (callback.actor_id, callback.after) == (seller.user_id, {"url": "https://shop.example/hooks"})

    with pghistory.context(user=staff_user.pk):  # as the admin's action runs it
        rotate_api_token(user=seller.user)
    rotation = events(kind=Event.Kind.API_TOKEN, actor_id=staff_user.pk)
    assert sorted(event.action for event in rotation) == ["DELETE", "DELETE", "INSERT"]
    assert all(event.seller_id == seller.pk and "digest" not in (event.before or event.after) for event in rotation)


def test_staff_permissions_are_recorded(db):
    user = get_user_model().objects.create_user(username="newstaff", is_staff=True)
    group = Group.objects.create(name="audited")
    user.groups.add(group)
    permission = Permission.objects.get(codename="view_event")
    group.permissions.add(permission)
    user.user_permissions.add(permission)
    get_user_model().objects.filter(pk=user.pk).update(is_superuser=True)
    kinds = [(event.kind, event.action) for event in events()]
    assert kinds[-5:] == [
        ("staff_user", "INSERT"),
        ("user_group", "INSERT"),
        ("group_permission", "INSERT"),
        ("user_permission", "INSERT"),
        ("staff_user", "UPDATE"),
    ]
    # A change outside Python is recorded too, with no actor.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE recharges_operator SET enabled = NOT enabled WHERE code = %s", ["mci"])
        cursor.execute("SELECT session_user")
        [role] = cursor.fetchone()
    [event] = events(kind=Event.Kind.OPERATOR)
    assert (event.actor_id, event.before["enabled"], event.after["enabled"]) == (None, True, False)
    assert event.db_role == role


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET actor_id = NULL", "DELETE FROM audit_event"])
def test_the_database_refuses_to_edit_or_delete_the_trail(make_seller, statement):
    seller = make_seller()
    set_limits(seller_id=seller.pk, max_recharge_amount=1000, daily_amount=None, number_hourly_count=None)
    assert Event.objects.exists()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert Event.objects.filter(kind=Event.Kind.SELLER_SETTINGS).count() == 1


def test_the_orm_cannot_delete_it_either(make_seller):
    seller = make_seller()
    set_limits(seller_id=seller.pk, max_recharge_amount=1000, daily_amount=None, number_hourly_count=None)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Event.objects.all().delete()


def test_the_application_role_cannot_truncate_the_trail(make_seller):
    """TRUNCATE fires no row trigger: the application's role may not run it
    (ledger's create_app_role), nor UPDATE or DELETE."""
    seller = make_seller()
    set_limits(seller_id=seller.pk, max_recharge_amount=1000, daily_amount=None, number_hourly_count=None)
    call_command("create_app_role", "recharge_app_test")
    for statement in ["TRUNCATE audit_event", "UPDATE audit_event SET path = ''", "DELETE FROM audit_event"]:
        refused = pytest.raises(ProgrammingError, match="permission denied")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL ROLE recharge_app_test")
            cursor.execute(statement)
    assert Event.objects.filter(kind=Event.Kind.SELLER_SETTINGS).count() == 1


def test_staff_with_the_permission_read_it_in_the_admin_by_seller_and_person(client, make_seller, staff_user):
    seller, other = make_seller(), make_seller()
    for target in (seller, other):
        with pghistory.context(user=staff_user.pk, address=ADDRESS):
            set_limits(seller_id=target.pk, max_recharge_amount=7_000, daily_amount=None, number_hourly_count=None)
    reader = get_user_model().objects.create_user(username="auditor", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_event"))
    client.force_login(reader)
    listing = client.get(f"/admin/audit/event/?seller__id__exact={seller.pk}&actor__id__exact={staff_user.pk}")
    assert listing.status_code == 200
    assert [event.seller_id for event in listing.context["cl"].result_list] == [seller.pk]
    [event] = events(seller_id=seller.pk, kind=Event.Kind.SELLER_SETTINGS)
    page = client.get(f"/admin/audit/event/{event.pk}/change/")
    assert page.status_code == 200
    assert "max_recharge_amount" in page.content.decode() and "7000" in page.content.decode()
    assert client.post(f"/admin/audit/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()


def test_staff_without_it_are_refused(client, staff_without_permissions):
    client.force_login(staff_without_permissions)
    assert client.get("/admin/audit/event/").status_code == 403


def test_four_eyes_record_the_first_approval_and_the_second(settings, make_seller, staff_user):
    """Each approval is in the trail with who made it: a credit request's
    first approval (it waits), and the second approval of an adjustment."""
    seller = make_seller(balance=10_000)
    settings.FOUR_EYES_CREDIT_THRESHOLD = 1_000
    settings.FOUR_EYES_ADJUSTMENT_THRESHOLD = 1_000
    second = get_user_model().objects.create_user(username="second-approver", is_staff=True, is_superuser=True)
    credit = request_credit(seller_id=seller.pk, amount=5_000)
    approve_credit_request(credit_request_id=credit.pk, decided_by=staff_user)
    waiting = Event.objects.filter(kind="credit_request", object_id=str(credit.pk)).latest("pk").after or {}
    assert (waiting["status"], waiting["first_approved_by_id"]) == (
        "awaiting_second_approval",
        staff_user.pk,
    )
    adjustment = adjust_balance(seller_id=seller.pk, amount=-2_000, reason="chargeback", created_by=staff_user)
    approve_adjustment(seller_id=seller.pk, adjustment_id=adjustment.pk, approved_by=second)
    applied = Event.objects.filter(kind="balance_adjustment", object_id=str(adjustment.pk)).latest("pk")
    before, after = applied.before or {}, applied.after or {}
    assert (before["status"], after["status"], after["approved_by_id"]) == (
        "awaiting_second_approval",
        "applied",
        second.pk,
    )


def test_a_rejected_adjustment_is_in_the_trail_with_who_rejected_it(settings, make_seller, staff_user):
    seller = make_seller(balance=10_000)
    settings.FOUR_EYES_ADJUSTMENT_THRESHOLD = 1_000
    adjustment = adjust_balance(seller_id=seller.pk, amount=5_000, reason="cash deposit", created_by=staff_user)
    reject_adjustment(seller_id=seller.pk, adjustment_id=adjustment.pk, rejected_by=staff_user)
    rejected = Event.objects.filter(kind="balance_adjustment", object_id=str(adjustment.pk)).latest("pk")
    before, after = rejected.before or {}, rejected.after or {}
    assert (before["status"], after["status"], after["rejected_by_id"]) == (
        "awaiting_second_approval",
        "rejected",
        staff_user.pk,
    )
