"""Who may see which portal page: anonymous visitors are sent to the login
page, staff are refused (403 page, and at login), and a seller sees only their
own data (another seller's recharge is a 404)."""

import pytest
from django.test import Client

from tests.portal.helpers import PASSWORD, with_password

SELLER_PAGES = [
    "/portal/",
    "/portal/statement/",
    "/portal/statement.csv",
    "/portal/recharges/",
    "/portal/credit-requests/",
    "/portal/api-token/",
    "/portal/callback/",
]
POST_ONLY = ["/portal/api-token/rotate/", "/portal/callback/remove/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", SELLER_PAGES + POST_ONLY + ["/portal/recharges/1/"])
def test_anonymous_goes_to_login(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/portal/login/?next={path}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*SELLER_PAGES, "/portal/recharges/1/"])
def test_staff_session_is_refused(path, staff_user):
    client = Client()
    client.force_login(staff_user)
    response = client.get(path)
    assert response.status_code == 403
    assert b"Not a seller account" in response.content


@pytest.mark.django_db
def test_staff_cannot_rotate_a_token(staff_user):
    client = Client()
    client.force_login(staff_user)
    assert client.post("/portal/api-token/rotate/").status_code == 403


@pytest.mark.django_db
def test_staff_cannot_log_in_to_the_portal(staff_user):
    with_password(staff_user)
    response = Client().post("/portal/login/", {"username": staff_user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert b"not a seller account" in response.content
    assert "_auth_user_id" not in response.wsgi_request.session


@pytest.mark.django_db
def test_user_without_seller_cannot_log_in(django_user_model):
    with_password(django_user_model.objects.create_user(username="plain"))
    response = Client().post("/portal/login/", {"username": "plain", "password": PASSWORD})
    assert b"not a seller account" in response.content


@pytest.mark.django_db
def test_wrong_password_is_refused(seller_a):
    response = Client().post("/portal/login/", {"username": seller_a.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session


@pytest.mark.django_db
@pytest.mark.parametrize("path", SELLER_PAGES)
def test_seller_sees_own_pages(path, seller_a, portal_client):
    assert portal_client(seller_a.user).get(path).status_code == 200


@pytest.mark.django_db
def test_seller_cannot_see_another_sellers_recharge(seller_a, recharge_of_b, portal_client, seller_b):
    response = portal_client(seller_a.user).get(f"/portal/recharges/{recharge_of_b}/")
    assert response.status_code == 404
    assert portal_client(seller_b.user).get(f"/portal/recharges/{recharge_of_b}/").status_code == 200


@pytest.mark.django_db
def test_lists_show_only_own_data(seller_a, seller_b, recharge_of_b, portal_client):
    client = portal_client(seller_a.user)
    assert f"/portal/recharges/{recharge_of_b}/".encode() not in client.get("/portal/recharges/").content
    assert f"/portal/recharges/{recharge_of_b}/".encode() not in client.get("/portal/statement/").content
    csv_lines = client.get("/portal/statement.csv").getvalue().decode().splitlines()
    assert len(csv_lines) == 2  # header and seller A's own funding credit
    assert ",credit,1000000,1000000,credit_request," in csv_lines[1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, data",
    [
        ("/portal/recharges/", {"phone_number": "09121234567", "amount": "5000", "idempotency_key": "portal-k1"}),
        ("/portal/credit-requests/", {"amount": "5000"}),
        ("/portal/api-token/rotate/", {}),
        ("/portal/callback/", {"url": "https://shop.example/hooks"}),
        ("/portal/callback/remove/", {}),
        ("/portal/logout/", {}),
    ],
)
def test_every_form_needs_csrf(path, data, seller_a, portal_client):
    client = portal_client(seller_a.user)
    assert client.post(path, data).status_code == 403
    seller_a.refresh_from_db()
    assert seller_a.balance == 1_000_000
    assert seller_a.credit_requests.count() == 1  # the funding request only
