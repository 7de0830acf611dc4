"""Staff endpoints check Django permissions, and staff see whose request it
is (issue 10, item 6; contract v1.1 "Staff permissions", "Staff see whose
request it is")."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from credits.services import request_credit
from tests.helpers.api import API, assert_error, nothing_written, post
from tests.helpers.sellers import client_for

# Each staff endpoint and the one permission it needs.
ENDPOINTS = [
    ("GET", "/sellers/", None, "sellers.view_seller", 200),
    ("GET", "/sellers/{seller}/", None, "sellers.view_seller", 200),
    ("POST", "/sellers/", {"name": "New shop", "username": "newshop"}, "sellers.add_seller", 201),
    (
        "POST",
        "/sellers/{seller}/adjustments/",
        {"amount": 1000, "reason": "goodwill"},
        "ledger.add_balanceadjustment",
        201,
    ),
    ("GET", "/credit-requests/", None, "credits.view_creditrequest", 200),
    ("GET", "/credit-requests/{credit_request}/", None, "credits.view_creditrequest", 200),
    ("POST", "/credit-requests/{credit_request}/approve/", None, "credits.decide_creditrequest", 200),
    ("POST", "/credit-requests/{credit_request}/reject/", None, "credits.decide_creditrequest", 200),
]
ALL = sorted({permission for *_, permission, _ in ENDPOINTS})


def staff_holding(*permissions: str, superuser: bool = False):
    user = get_user_model().objects.create_user(
        username=f"staff-{'-'.join(permissions) or 'none'}-{superuser}", is_staff=True, is_superuser=superuser
    )
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def call(client, method, path, body):
    return post(client, path, body) if method == "POST" else client.get(path)


@pytest.fixture
def ids(make_seller):
    seller = make_seller(name="Shop P", balance=10_000)
    return {"seller": seller.pk, "credit_request": request_credit(seller_id=seller.pk, amount=5000).pk}


@pytest.mark.parametrize("method, path, body, permission, ok", ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_each_staff_endpoint_needs_its_own_permission(ids, method, path, body, permission, ok):
    url = API + path.format(**ids)
    others = client_for(staff_holding(*[other for other in ALL if other != permission]))
    with nothing_written():
        assert_error(call(others, method, url, body), 403, "permission_denied")
    response = call(client_for(staff_holding(permission)), method, url, body)
    assert response.status_code == ok, response.content


@pytest.mark.parametrize("method, path, body, permission, ok", ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_a_superuser_holds_every_permission(ids, method, path, body, permission, ok):
    response = call(client_for(staff_holding(superuser=True)), method, API + path.format(**ids), body)
    assert response.status_code == ok, response.content


def test_a_permission_through_a_group_counts(ids):
    user = staff_holding()
    user.groups.add(Group.objects.get(name="approver"))
    response = post(client_for(user), f"{API}/credit-requests/{ids['credit_request']}/approve/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"


def test_the_suggested_groups_exist_with_their_permissions(db):
    def held(name):
        return sorted(
            f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=name).permissions.all()
        )

    assert held("approver") == [
        "credits.decide_creditrequest",
        "credits.view_creditrequest",
        "recharges.view_commissionrate",
        "recharges.view_operator",
        "recharges.view_product",
        "sellers.view_seller",
    ]
    assert "recharges.change_recharge" in held("accountant")  # resolves recharges stuck past the horizon
    assert "recharges.change_commissionrate" in held("accountant")  # sets what sellers earn
    assert "recharges.change_commissionrate" not in held("support")
    assert {"recharges.change_product", "sellers.change_seller"} <= set(held("support"))  # packages, limits
    assert "ledger.add_balanceadjustment" in held("accountant")
    assert "credits.decide_creditrequest" not in held("accountant")
    assert "sellers.add_seller" in held("support")
    assert all(permission.split(".")[1].startswith("view_") for permission in held("read-only"))


def test_staff_see_whose_request_it_is_in_every_view(staff_client, ids):
    seller = {"id": ids["seller"], "name": "Shop P"}
    listed = staff_client.get(f"{API}/credit-requests/").json()["results"]
    assert [row["seller"] for row in listed if row["id"] == ids["credit_request"]] == [seller]
    assert staff_client.get(f"{API}/credit-requests/{ids['credit_request']}/").json()["seller"] == seller
    approved = post(staff_client, f"{API}/credit-requests/{ids['credit_request']}/approve/")
    assert approved.json()["seller"] == seller
    other = request_credit(seller_id=ids["seller"], amount=7000).pk
    assert post(staff_client, f"{API}/credit-requests/{other}/reject/").json()["seller"] == seller
