"""Shared fixtures: real PostgreSQL (pytest-django's test database), sellers
made through the services, API clients with real tokens, two funded sellers
and clients with no token or a bad one. Helpers that tests import live in
tests/helpers/, never here."""

import itertools
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from recharges.services import sell_recharge, sell_recharge_batch
from sellers.services import create_seller
from tests.helpers.api import START_BALANCE
from tests.helpers.operators import restore_default_operators
from tests.helpers.sellers import client_for, fund

TESTS = Path(__file__).parent
SYSTEM_TESTS = TESTS / "system"

# What gives a test the test database (DATABASE_URL's server, or the embedded one).
DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_setup"}

# Tests that use the test database but whose subject is Python or HTTP, not the
# database server: they run once (`make test`), not again in CI's second pass
# on PostgreSQL 15 (`make test-server`). Each says why.
RUN_ONCE = {
    "config/test_permission_matrix.py": "which door lets which user in, decided by Django's and DRF's permission "
    "checks; the rows a door may write are the services', tested on both",
    "config/test_validation.py": "bad input refused by the serializers, a 4xx before any write",
    "portal/test_access.py": "who may see which HTML page; the queries are portal/selectors (test_selectors.py)",
    "portal/test_pages.py": "HTML pages and forms over portal/selectors and the sale services, tested on both",
    "system/browser": "Chromium clicking the portal and the admin; the services behind the clicks are tested on both",
    "system/hostile/test_schemathesis.py": "the API against its OpenAPI schema; the ledger rules it commits through "
    "are tests/ledger's and tests/system/concurrency's",
    "system/test_http_edges.py": "HTTP framing, gunicorn's own errors, CSRF and admin filter pages",
    "system/test_operate.py": "Prometheus sums and JSON log lines of several gunicorn workers",
    "system/test_slow_clients.py": "how the HTTP servers hold stalled sockets; one sale is the probe",
}

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def operators(request):
    """The operators migration 0004 creates; a transactional test's flush
    deletes them, so every database test puts them back first."""
    if not {"db", "transactional_db", "live_server"} & set(
        request.fixturenames
    ) and not request.node.get_closest_marker("django_db"):
        return
    request.getfixturevalue("transactional_db" if _transactional(request) else "db")
    restore_default_operators()


def _transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return (
        "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
        or bool(marker and marker.kwargs.get("transaction"))
    )


def pytest_collection_modifyitems(items):
    """Every test under tests/system/ is a `system` test, by folder. A test that
    uses the test database is a `server` test unless RUN_ONCE names its file or
    folder; a test with no database fixture never is: it is pure Python, or it
    starts a PostgreSQL of its own (chaos and reliability from the pgserver
    binaries, the cluster from Debian's 15), the same in both passes."""
    once = [TESTS / path for path in RUN_ONCE]
    assert all(path.exists() for path in once), "RUN_ONCE names a file or folder that is gone"
    for item in items:
        if SYSTEM_TESTS in item.path.parents:
            item.add_marker(pytest.mark.system)
        uses_database = DATABASE_FIXTURES & set(item.fixturenames) or item.get_closest_marker("django_db")
        if uses_database and not any(path == item.path or path in item.path.parents for path in once):
            item.add_marker(pytest.mark.server)


# Every permission a staff endpoint checks (docs/permissions.md).
STAFF_PERMISSIONS = [
    ("sellers", "view_seller"),
    ("sellers", "add_seller"),
    ("credits", "view_creditrequest"),
    ("credits", "decide_creditrequest"),
    ("ledger", "add_balanceadjustment"),
    ("recharges", "view_operator"),
    ("ledger", "view_ledgerentry"),
    ("sellers", "change_seller"),
    ("recharges", "view_product"),
    ("recharges", "view_commissionrate"),
    ("recharges", "change_commissionrate"),
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


@pytest.fixture
def staff_client(staff_user):
    return client_for(staff_user)


@pytest.fixture
def seller_client(make_seller):
    """seller_client(seller) -> APIClient authenticated as that seller."""
    return lambda seller: client_for(seller.user)


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
