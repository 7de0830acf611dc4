"""Shared fixtures: real PostgreSQL (pytest-django's test database), sellers
made through the services, API clients with real tokens."""

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from credits.services import approve_credit_request, request_credit
from sellers.services import create_seller, issue_api_token

_numbers = itertools.count(1)


# Every permission a staff endpoint checks (docs/permissions.md).
STAFF_PERMISSIONS = [
    ("sellers", "view_seller"),
    ("sellers", "add_seller"),
    ("credits", "view_creditrequest"),
    ("credits", "decide_creditrequest"),
    ("ledger", "add_balanceadjustment"),
]


@pytest.fixture
def staff_user(db):
    """A staff member (not a superuser) holding every staff endpoint's permission."""
    user = get_user_model().objects.create_user(username=f"staff{next(_numbers)}", is_staff=True)
    for app_label, codename in STAFF_PERMISSIONS:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture
def staff_without_permissions(db):
    """Staff whom the admin refuses: is_staff and no permission at all."""
    return get_user_model().objects.create_user(username=f"bare-staff{next(_numbers)}", is_staff=True)


@pytest.fixture
def make_seller(db, staff_user):
    """make_seller(name=..., balance=...) -> Seller, funded through an approved credit request."""

    def make(name: str | None = None, balance: int = 0):
        number = next(_numbers)
        seller, _ = create_seller(name=name or f"Shop {number}", username=f"shop{number}")
        if balance:
            fund(seller, balance, staff_user)
        seller.refresh_from_db()
        return seller

    return make


def fund(seller, amount: int, staff_user) -> None:
    credit_request = request_credit(seller_id=seller.pk, amount=amount)
    approve_credit_request(credit_request_id=credit_request.pk, decided_by=staff_user)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=user)}")
    return client


@pytest.fixture
def staff_client(staff_user):
    return client_for(staff_user)


@pytest.fixture
def seller_client(make_seller):
    """seller_client(seller) -> APIClient authenticated as that seller."""
    return lambda seller: client_for(seller.user)
