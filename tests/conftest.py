"""Shared fixtures: real PostgreSQL (pytest-django's test database), sellers
made through the services, API clients with real tokens."""

import itertools

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from credits.services import approve_credit_request, request_credit
from tests.operators import restore_default_operators
from sellers.services import create_seller, issue_api_token

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def operators(request):
    """The operators migration 0004 creates; a transactional test's flush
    deletes them, so every database test puts them back first."""
    if not {"db", "transactional_db", "live_server"} & set(request.fixturenames) and not request.node.get_closest_marker(
        "django_db"
    ):
        return
    request.getfixturevalue("transactional_db" if _transactional(request) else "db")
    restore_default_operators()


def _transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return "transactional_db" in request.fixturenames or "live_server" in request.fixturenames or bool(
        marker and marker.kwargs.get("transaction")
    )


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(username=f"staff{next(_numbers)}", is_staff=True)


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
