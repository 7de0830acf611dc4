"""Fixtures for the API tests: two funded sellers, their clients, and clients
with no token or a bad one."""

import json

import pytest
from rest_framework.test import APIClient

from recharges.services import sell_recharge, sell_recharge_batch

START_BALANCE = 1_000_000


@pytest.fixture
def seller_a(make_seller):
    return make_seller(name="Shop A", balance=START_BALANCE)


@pytest.fixture
def seller_b(make_seller):
    return make_seller(name="Shop B", balance=START_BALANCE)


@pytest.fixture
def client_a(seller_a, seller_client):
    return seller_client(seller_a)


@pytest.fixture
def client_b(seller_b, seller_client):
    return seller_client(seller_b)


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def bad_token_client():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    return client


@pytest.fixture
def sold(seller_a):
    """One recharge and one two-item batch sold by seller A (ids)."""
    single = sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=5000)
    batch = sell_recharge_batch(seller_id=seller_a.pk, items=[("+989121234567", 1000), ("+989351234567", 2000)])
    assert (single.status_code, batch.status_code) == (201, 201)
    return {"recharge": json.loads(single.body)["id"], "batch": json.loads(batch.body)["id"]}
