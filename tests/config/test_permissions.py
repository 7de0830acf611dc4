"""Who may call what: every endpoint for anonymous callers, a bad token,
seller A (who owns the objects), seller B and staff. A refusal writes nothing;
seller B gets 404 for seller A's objects, never 403."""

import pytest
from rest_framework.test import APIClient

from credits.services import request_credit
from tests.helpers.api import API, ITEM_BODY, assert_error, nothing_written, post
from tests.helpers.sellers import client_for

ROLES = ["anonymous", "bad_token", "seller_a", "seller_b", "staff", "staff_without_permission"]
ERROR_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}

# (method, path, body, expected status for each role in ROLES). Staff without
# the endpoint's Django permission are refused as a seller is (issue 10, item 6).
MATRIX = [
    ("GET", "/me/", None, [401, 401, 200, 200, 403, 403]),
    ("GET", "/sellers/", None, [401, 401, 403, 403, 200, 403]),
    ("POST", "/sellers/", {"name": "New shop", "username": "newshop"}, [401, 401, 403, 403, 201, 403]),
    ("GET", "/sellers/{seller}/", None, [401, 401, 403, 403, 200, 403]),
    ("POST", "/sellers/{seller}/adjustments/", {"amount": 1000, "reason": "goodwill"}, [401, 401, 403, 403, 201, 403]),
    ("GET", "/credit-requests/", None, [401, 401, 200, 200, 200, 403]),
    ("POST", "/credit-requests/", {"amount": 1000}, [401, 401, 201, 201, 403, 403]),
    ("GET", "/credit-requests/{credit_request}/", None, [401, 401, 200, 404, 200, 403]),
    ("POST", "/credit-requests/{credit_request}/approve/", None, [401, 401, 403, 403, 200, 403]),
    ("POST", "/credit-requests/{credit_request}/reject/", None, [401, 401, 403, 403, 200, 403]),
    ("GET", "/recharges/", None, [401, 401, 200, 200, 403, 403]),
    ("POST", "/recharges/", ITEM_BODY, [401, 401, 201, 201, 403, 403]),
    ("GET", "/recharges/{recharge}/", None, [401, 401, 200, 404, 403, 403]),
    ("POST", "/recharge-batches/", {"items": [ITEM_BODY]}, [401, 401, 201, 201, 403, 403]),
    ("GET", "/recharge-batches/{batch}/", None, [401, 401, 200, 404, 403, 403]),
    ("GET", "/transactions/", None, [401, 401, 200, 200, 403, 403]),
]

CASES = [
    pytest.param(method, path, body, role, status, id=f"{method} {path} {role}")
    for method, path, body, statuses in MATRIX
    for role, status in zip(ROLES, statuses, strict=True)
]


@pytest.fixture
def objects(seller_a, sold):
    """Seller A's objects, by the name used in MATRIX paths."""
    credit_request = request_credit(seller_id=seller_a.pk, amount=50_000)
    return {"seller": seller_a.pk, "credit_request": credit_request.pk, **sold}


@pytest.fixture
def clients(anonymous_client, bad_token_client, client_a, client_b, staff_client, staff_without_permissions):
    clients = [
        anonymous_client,
        bad_token_client,
        client_a,
        client_b,
        staff_client,
        client_for(staff_without_permissions),
    ]
    return dict(zip(ROLES, clients, strict=True))


def call(client: APIClient, method: str, path: str, body=None):
    if method == "POST":
        return post(client, path, body)
    return client.get(path)


@pytest.mark.parametrize("method, path, body, role, status", CASES)
def test_authorization_matrix(clients, objects, method, path, body, role, status):
    url = API + path.format(**objects)
    if status >= 400:
        with nothing_written():
            assert_error(call(clients[role], method, url, body), status, ERROR_CODES[status])
    else:
        response = call(clients[role], method, url, body)
        assert response.status_code == status, response.content


def test_missing_or_malformed_authorization_header_is_401(client_a):
    for header in ["", "Token", "Token a b", "Bearer abc", "Basic dXNlcjpwYXNz"]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert_error(client.get(f"{API}/me/"), 401, "not_authenticated")


def test_401_names_the_token_scheme(anonymous_client):
    response = anonymous_client.get(f"{API}/me/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_user_neither_seller_nor_staff_is_refused_everywhere(django_user_model, seller_a, objects):
    client = client_for(django_user_model.objects.create_user(username="nobody"))
    for method, path, body, _ in MATRIX:
        with nothing_written():
            assert_error(call(client, method, API + path.format(**objects), body), 403, "permission_denied")


@pytest.mark.parametrize(
    "path", ["/credit-requests/{credit_request}/", "/recharges/{recharge}/", "/recharge-batches/{batch}/"]
)
def test_another_sellers_object_looks_exactly_like_a_missing_one(client_b, objects, path):
    theirs = client_b.get(API + path.format(**objects))
    missing = client_b.get(API + path.format(**{name: 10**12 for name in objects}))
    assert_error(theirs, 404, "not_found")
    assert theirs.json() == missing.json()


@pytest.mark.parametrize("path, field", [("/credit-requests/", "credit_request"), ("/recharges/", "recharge")])
def test_lists_hold_only_the_callers_rows(client_a, client_b, objects, path, field):
    assert objects[field] in [row["id"] for row in client_a.get(API + path).json()["results"]]
    assert objects[field] not in [row["id"] for row in client_b.get(API + path).json()["results"]]


def test_transactions_hold_only_the_callers_entries(client_a, client_b, seller_a, seller_b, objects):
    mine = client_a.get(f"{API}/transactions/").json()["results"]
    theirs = client_b.get(f"{API}/transactions/").json()["results"]
    assert sum(row["amount"] for row in mine) == client_a.get(f"{API}/me/").json()["balance"] == 1_000_000 - 8000
    assert [row["kind"] for row in theirs] == ["credit"]


def test_staff_see_every_sellers_credit_requests(staff_client, client_b, objects):
    mine = post(client_b, f"{API}/credit-requests/", {"amount": 7000}).json()["id"]
    ids = [row["id"] for row in staff_client.get(f"{API}/credit-requests/").json()["results"]]
    assert {objects["credit_request"], mine} <= set(ids)
