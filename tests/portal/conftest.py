"""Two funded sellers with portal passwords, a staff user, and logged-in
Django test clients (the real middleware stack, sessions and CSRF checks)."""

import json

import pytest
from django.test import Client

from recharges.services import sell_recharge
from tests.portal.helpers import PASSWORD, with_password

START_BALANCE = 1_000_000


@pytest.fixture
def seller_a(make_seller):
    seller = make_seller(name="Shop A", balance=START_BALANCE)
    with_password(seller.user)
    return seller


@pytest.fixture
def seller_b(make_seller):
    seller = make_seller(name="Shop B", balance=START_BALANCE)
    with_password(seller.user)
    return seller


@pytest.fixture
def portal_client():
    """portal_client(user) -> a Client logged in through the portal's login form."""

    def make(user):
        client = Client(enforce_csrf_checks=True)
        client.get("/portal/login/")
        response = client.post(
            "/portal/login/",
            {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        )
        assert response.status_code == 302, response.content
        return client

    return make


@pytest.fixture
def recharge_of_b(seller_b):
    result = sell_recharge(seller_id=seller_b.pk, phone_number="+989121234567", amount=5000)
    assert result.status_code == 201
    return json.loads(result.body)["id"]
