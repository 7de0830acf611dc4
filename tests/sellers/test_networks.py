"""API tokens bound to networks (Seller.allowed_networks): from outside them a
request is 403 address_not_allowed, writes nothing and is in the audit trail;
an empty list lets the token work from anywhere (v1)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import DataError, transaction
from rest_framework.test import APIClient

from audit.models import Event
from sellers.models import Seller
from sellers.services import issue_api_token
from tests.helpers.api import API, START_BALANCE, assert_error, nothing_written, post, recharge_body

INSIDE = "203.0.113.9"
OUTSIDE = "198.51.100.7"


def client_from(seller, address: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=seller.user)}")
    return client


@pytest.fixture
def bound_seller(seller_a):
    Seller.objects.filter(pk=seller_a.pk).update(allowed_networks=["203.0.113.0/24", "2001:db8::/32"])
    return seller_a


def test_a_token_from_an_allowed_network_works(bound_seller):
    client = client_from(bound_seller, INSIDE)
    response = post(client, f"{API}/recharges/", recharge_body(), key="net-1")
    assert response.status_code == 201
    assert client.get(f"{API}/me/").json()["balance"] == START_BALANCE - 5000
    assert client_from(bound_seller, "2001:db8::1").get(f"{API}/me/").status_code == 200
    assert client_from(bound_seller, f"::ffff:{INSIDE}").get(f"{API}/me/").status_code == 200
    assert not Event.objects.filter(kind=Event.Kind.ADDRESS_REFUSED).exists()


@pytest.mark.parametrize("method", ["sale", "batch", "me"])
def test_a_token_from_elsewhere_is_refused_writes_nothing_and_is_audited(bound_seller, method):
    client = client_from(bound_seller, OUTSIDE)
    with nothing_written():
        if method == "sale":
            response = post(client, f"{API}/recharges/", recharge_body(), key="net-2")
        elif method == "batch":
            response = post(client, f"{API}/recharge-batches/", {"items": [recharge_body()]})
        else:
            response = client.get(f"{API}/me/")
    assert_error(response, 403, "address_not_allowed")
    [event] = Event.objects.filter(kind=Event.Kind.ADDRESS_REFUSED)
    assert (event.seller_id, event.actor_id, event.address) == (bound_seller.pk, bound_seller.user_id, OUTSIDE)
    assert Seller.objects.get(pk=bound_seller.pk).balance == START_BALANCE


def test_behind_a_trusted_proxy_the_forwarded_address_counts(bound_seller, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = client_from(bound_seller, "10.0.0.1")
    assert client.get(f"{API}/me/", HTTP_X_FORWARDED_FOR=INSIDE).status_code == 200
    assert_error(client.get(f"{API}/me/", HTTP_X_FORWARDED_FOR=OUTSIDE), 403, "address_not_allowed")


def test_an_empty_list_works_from_anywhere(seller_a):
    assert Seller.objects.get(pk=seller_a.pk).allowed_networks == []
    response = post(client_from(seller_a, OUTSIDE), f"{API}/recharges/", recharge_body(), key="net-3")
    assert response.status_code == 201


def test_changing_the_networks_is_audited(seller_a):
    Seller.objects.filter(pk=seller_a.pk).update(allowed_networks=["203.0.113.0/24"])
    [event] = Event.objects.filter(kind=Event.Kind.SELLER_SETTINGS)
    assert event.before is not None and event.after is not None
    assert (event.before["allowed_networks"], event.after["allowed_networks"]) == ([], ["203.0.113.0/24"])


def test_the_database_refuses_what_is_not_a_network(seller_a):
    with pytest.raises(DataError), transaction.atomic():
        Seller.objects.filter(pk=seller_a.pk).update(allowed_networks=["203.0.113.1/24"])
    with pytest.raises(DataError), transaction.atomic():
        Seller.objects.filter(pk=seller_a.pk).update(allowed_networks=["not a network"])


def admin_form(seller, networks: str) -> dict:
    return {"user": seller.user_id, "name": seller.name, "_save": "Save", "allowed_networks": networks} | {
        "commission_rates-TOTAL_FORMS": 0,
        "commission_rates-INITIAL_FORMS": 0,
    }


def test_staff_set_the_networks_in_the_admin_and_the_change_is_audited(client, seller_a):
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    url = f"/admin/sellers/seller/{seller_a.pk}/change/"
    refused = client.post(url, admin_form(seller_a, "203.0.113.1/24"), REMOTE_ADDR=INSIDE)
    assert refused.status_code == 200 and "203.0.113.1/24" in refused.content.decode()
    assert Seller.objects.get(pk=seller_a.pk).allowed_networks == []
    response = client.post(url, admin_form(seller_a, "203.0.113.0/24,2001:db8::/32"), REMOTE_ADDR=INSIDE)
    assert response.status_code == 302
    assert Seller.objects.get(pk=seller_a.pk).allowed_networks == ["203.0.113.0/24", "2001:db8::/32"]
    [event] = Event.objects.filter(kind=Event.Kind.SELLER_SETTINGS)
    assert (event.actor_id, event.address, event.seller_id) == (boss.pk, INSIDE, seller_a.pk)
