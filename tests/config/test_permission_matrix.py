"""One door: every door of the site (tests/helpers/doors.py generates them
from the admin registry and the URL conf), for a staff user of every group
the project defines and for a seller's own user, through the real HTTP stack.
Each door is either allowed, exactly when the user holds the permission it
declares, or refused (403, the admin's login page, or the admin's "No action
selected.") with nothing written: no table's rows, no balance, no ledger sum.

A door that declares nothing fails the list test; an action whose permission
a group lacks but which still runs fails its door's test."""

import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.management import get_permission_codename
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory

from callbacks.services import record_event, set_callback_url
from config import two_factor
from credits.models import DECIDE_CREDIT_REQUESTS, CreditRequest
from credits.services import request_credit
from ledger.services import adjust_balance
from recharges.floats import record_prepayment
from recharges.models import CommissionRate, Product
from recharges.services import sell_recharge, sell_recharge_batch
from sellers.models import Seller
from settlement.models import Settlement, SettlementCase
from tests.helpers.api import assert_error, post
from tests.helpers.doors import all_doors, table_snapshot
from tests.helpers.sellers import client_for

DOORS, PROBLEMS = all_doors()
LOGIN_PAGES = ("/admin/login/", "/portal/login/")
PAYLOADS = {
    "delete": {"post": "yes"},
    "post-save": {"_save": "Save", "form-TOTAL_FORMS": "0", "form-INITIAL_FORMS": "0"},
    # A credit request page's Approve or Reject, confirmed: an allowed user decides the pending request.
    "decide": {"confirmed": "yes"},
}


def test_every_door_declares_a_permission():
    assert PROBLEMS == []
    kinds = {door.kind for door in DOORS}
    assert kinds == {"admin-view", "admin-action", "admin-page", "admin-site", "api", "portal"}
    registered = {model_admin.opts.label_lower for model_admin in admin.site._registry.values()}
    assert {door.model_admin.opts.label_lower for door in DOORS if door.kind == "admin-view"} == registered


def test_the_admin_and_the_api_agree_on_each_staff_permission(db):
    """An API endpoint's permission "<app>.<verb>_<model>" and the admin's
    has_<verb>_permission on that model let in the same members of each group."""
    twins = _admin_twins()
    assert {(m.opts.label_lower, verb) for m, verb in twins} >= {
        ("credits.creditrequest", "decide"),
        ("sellers.seller", "add"),
    }
    for group in Group.objects.all():
        user = get_user_model().objects.create_user(username=f"twin-{group.name}", is_staff=True)
        user.groups.add(group)
        request = RequestFactory().get("/")
        request.user = get_user_model().objects.get(pk=user.pk)
        for model_admin, verb in twins:
            permission = f"{model_admin.opts.app_label}.{get_permission_codename(verb, model_admin.opts)}"
            admin_says = getattr(model_admin, f"has_{verb}_permission")(request)
            assert admin_says == request.user.has_perm(permission), f"{group.name}: {model_admin} {verb}"


def test_the_credit_request_buttons_check_what_the_list_actions_check():
    """Approve and Reject on a request's page (admin-page doors) declare the
    permission behind the list actions' "decide" (has_decide_permission)."""
    model_admin = admin.site._registry[CreditRequest]
    actions = {
        door.action: door.check for door in DOORS if door.kind == "admin-action" and door.model_admin is model_admin
    }
    assert actions["approve_selected"] == actions["reject_selected"] == ("decide",)
    decide = f"credits.{get_permission_codename('decide', model_admin.opts)}"
    assert decide == DECIDE_CREDIT_REQUESTS
    page = f"admin/{model_admin.opts.app_label}/{model_admin.opts.model_name}/"
    buttons = {
        (door.method, door.route.rsplit("/", 2)[-2]): door.check
        for door in DOORS
        if door.kind == "admin-page" and door.route.startswith(page)
    }
    assert buttons == {
        **{(method, verb): decide for method in ("get", "post") for verb in ("approve", "reject")},
        # The receipt file is seen, not decided: the permission that shows the request.
        **{(method, "receipt"): "credits.view_creditrequest" for method in ("get", "post")},
    }


def _admin_twins() -> set:
    """(ModelAdmin, verb) for each API permission "<app>.<verb>_<model>" on a model the admin shows."""
    admins = {(m.opts.app_label, m.opts.model_name): m for m in admin.site._registry.values()}
    twins = set()
    for door in DOORS:
        for _, permission in door.api_rule:
            app_label, _, codename = (permission or "").partition(".")
            verb, _, model_name = codename.rpartition("_")
            if (app_label, model_name) in admins:
                twins.add((admins[app_label, model_name], verb))
    return twins


@pytest.fixture
def world(make_seller, staff_user):
    """One row (at least) of every model the admin shows; the seller's last
    credit request is pending, so an approval that runs moves money."""
    seller = make_seller(name="Shop", balance=1_000_000)
    CommissionRate.objects.create(seller=seller, operator_id="mci", rate=100)
    Product.objects.create(
        code="mci-1gb", operator_id="mci", name="1 GB", name_fa="1 GB", amount=50_000, data_mb=1024, validity_days=30
    )
    record_prepayment(operator="mci", amount=1_000_000, bank_reference="SATNA-1", created_by=staff_user)
    settlement = Settlement.objects.create(
        operator_id="mci", day="2026-12-06", statement_lines=1, recharges=0, matched=0, differences=1, seconds=0.1
    )
    SettlementCase.objects.create(
        settlement=settlement,
        operator_id="mci",
        day=settlement.day,
        kind="theirs_only",
        reference="OP-1",
        their_amount=1,
    )
    sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=5000)
    sell_recharge_batch(seller_id=seller.pk, items=[("+989351234567", 2000)])
    adjust_balance(seller_id=seller.pk, amount=1000, reason="goodwill", created_by=staff_user)
    set_callback_url(seller_id=seller.pk, url="http://127.0.0.1:8301/hook")
    record_event(seller_id=seller.pk, event_type="recharge.failed", data={"id": 1})
    request_credit(seller_id=seller.pk, amount=777_000)
    login = {"user_agent": "test", "ip_address": "192.0.2.1", "username": "x", "http_accept": "*/*"}
    AccessAttempt.objects.create(**login, get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**login)
    AccessFailureLog.objects.create(**login)
    # An enrolled staff member who knocks on no door (an enrolled visitor would be asked for a code first).
    two_factor.enrol_for_operator(get_user_model().objects.create_user(username="enrolled", is_staff=True))
    empty = [m.opts.label for m in admin.site._registry.values() if not m.model._default_manager.exists()]
    assert empty == [], "every model the admin shows needs a row here"
    return seller


@pytest.fixture
def users(world):
    """A staff user in each group the project defines, then the seller's own user."""
    groups = list(Group.objects.order_by("name"))
    assert {"read-only", "approver", "accountant", "support"} <= {group.name for group in groups}
    staff = []
    for group in groups:
        user = get_user_model().objects.create_user(username=f"staff-{group.name}", is_staff=True)
        user.groups.add(group)
        staff.append((group.name, get_user_model().objects.get(pk=user.pk)))
    return [*staff, ("seller", world.user)]


@pytest.mark.parametrize("door", DOORS, ids=[door.id for door in DOORS])
def test_door(door, world, users):
    # Each user's clients and logins first: they write sessions and tokens.
    visits = [(name, user, _client(door, user)) for name, user in users]
    expected = {name: _allowed(door, user) for name, user, _ in visits}
    # Refusals first: an allowed user's write must not hide one that slipped through.
    wrong = []
    for name, user, client in sorted(visits, key=lambda visit: expected[visit[0]]):
        before = table_snapshot()
        refused, response = _knock(door, client, user, world)
        assert response.status_code < 500, f"{door.id} as {name}"
        if door.kind == "admin-site":  # any staff may open the admin's own pages, which check models themselves
            refused, expected[name] = _sent_to_login(response), user.is_staff
        written = table_snapshot() != before
        if refused == expected[name]:
            wrong.append(f"{name}: {'refused' if refused else 'let in'} ({response.status_code}, wrote: {written})")
        elif written and (refused or door.kind == "admin-site"):
            wrong.append(f"{name}: refused, yet something was written")
    assert wrong == [], f"{door.id}: {wrong}"


def _client(door, user):
    if door.kind == "api":
        return client_for(user)
    client = Client()
    client.force_login(user)
    return client


def _allowed(door, user) -> bool:
    """Whether the door's declared permission lets the user in; checks on the
    way that a ModelAdmin's own check grants no more than its model permission."""
    is_seller = not user.is_staff and Seller.objects.filter(user=user).exists()
    if door.kind == "portal":
        return is_seller
    if door.kind == "api":
        return all(_api_rule(kind, permission, user, is_seller) for kind, permission in door.api_rule)
    if door.kind == "admin-page":
        return user.is_staff and user.has_perm(door.check)
    if door.kind == "admin-site":
        return user.is_staff
    request = RequestFactory().get("/")
    request.user = user
    model_admin = door.model_admin
    obj = model_admin.model._default_manager.order_by("-pk").first()
    if door.kind == "admin-action":
        checks = door.check or ()
        allowed = [_admin_check(model_admin, check, request, None) for check in checks]
        return bool(checks) and user.is_staff and model_admin.has_view_or_change_permission(request) and all(allowed)
    return user.is_staff and _admin_check(model_admin, door.check, request, obj)


def _admin_check(model_admin, check, request, obj) -> bool:
    opts = model_admin.opts
    if check == "view":
        granted = model_admin.has_view_or_change_permission(request, obj)
        held = request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or request.user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )
    else:
        method = getattr(model_admin, f"has_{check}_permission")
        granted = method(request, obj) if check in {"change", "delete"} else method(request)
        codename = get_permission_codename(check, opts)
        assert Permission.objects.filter(content_type__app_label=opts.app_label, codename=codename).exists(), (
            f"{model_admin}: has_{check}_permission needs the permission {opts.app_label}.{codename}"
        )
        held = request.user.has_perm(f"{opts.app_label}.{codename}")
    assert held or not granted, f"{model_admin}.has_{check}_permission grants more than the model permission"
    return granted


def _api_rule(kind, permission, user, is_seller) -> bool:
    staff = user.is_staff and permission is not None and user.has_perm(permission)
    return {"seller": is_seller, "StaffWithPermission": staff, "SellerOrStaffWithPermission": is_seller or staff}[kind]


def _knock(door, client, user, world):
    """Sends the door's request; returns (refused, response)."""
    if door.kind == "admin-action":
        return _run_action(door, client)
    url = "/" + _fill(door.route, door.model_admin, world)
    method = "post" if door.method.startswith("post") else door.method
    if door.kind == "api":
        response = post(client, url, {}) if method == "post" else getattr(client, method)(url, {}, format="json")
        if response.status_code == 403:
            assert_error(response, 403, "permission_denied")
            return True, response
        return response.status_code == 401, response
    response = getattr(client, method)(url, PAYLOADS.get(door.method, PAYLOADS.get(_suffix(door), {})))
    return response.status_code == 403 or _sent_to_login(response), response


def _sent_to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES)


def _run_action(door, client):
    opts = door.model_admin.opts
    url = f"/admin/{opts.app_label}/{opts.model_name}/"
    page = client.get(url)
    form = page.context["action_form"] if page.status_code == 200 else None
    offered = form is not None and door.action in dict(form.fields["action"].choices)
    selected = door.model_admin.model._default_manager.order_by("-pk").first().pk
    response = client.post(url, {"action": door.action, "_selected_action": [selected], "index": "0"})
    messages = [str(message) for message in response.wsgi_request._messages]
    # A list that offers no action at all shows itself again: nothing ran.
    ignored = response.status_code == 200 and response.context is not None and response.context["action_form"] is None
    refused = response.status_code == 403 or _sent_to_login(response) or "No action selected." in messages or ignored
    assert offered == (not refused), f"{door.id}: offered={offered} but refused={refused}"
    return refused, response


def _suffix(door) -> str:
    if door.method != "post":
        return ""
    if door.route.endswith("/delete/"):
        return "delete"
    return "decide" if door.route.endswith(("/approve/", "/reject/")) else ""


def _fill(route: str, model_admin, world) -> str:
    """The route with a real object in each parameter: the model admin's
    newest row, or the world seller's own objects for the API and portal."""
    recharge = world.recharges.order_by("pk").first()
    values = {
        "object_id": model_admin.model._default_manager.order_by("-pk").first().pk if model_admin else None,
        "seller_id": world.pk,
        "credit_request_id": world.credit_requests.order_by("-pk").first().pk,
        "adjustment_id": world.adjustments.order_by("-pk").first().pk,
        "recharge_id": recharge.pk,
        "batch_id": world.recharges.exclude(batch=None).first().batch_id,
        "content_type_id": ContentType.objects.get_for_model(Seller).pk,
        "app_label": "sellers",
        "url": "no-such-page/",
        "id": model_admin.model._default_manager.order_by("-pk").first().pk if model_admin else None,
    }
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(values[match.group(1)]), route)
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda match: str(values[match.group(1)]), route)
    return route.replace("^", "").replace("$", "")
