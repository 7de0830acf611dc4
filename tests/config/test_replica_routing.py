"""Listing reads on a replica, by opting in (config/routers.py, docs/scaling.md §3).

The `replica` fixture adds a second alias reading the test database through
a connection of its own, as `TEST: {"MIRROR": "default"}` does, and installs
the router: the queries each connection runs show which database a request
would have used. Transactional tests: the replica's connection sees only
committed rows, as a real standby does.
"""

import json

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from config.routers import REPLICA, ListingReadsToReplica, listing
from loadtests.server import run_django
from recharges.models import Recharge
from tests.helpers.workers import current_database_url

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup, django_db_blocker):
    """The alias exists before each test's database set-up, which then allows it;
    a mirror of the test database (not flushed on its own, as a real mirror)."""
    with django_db_blocker.unblock():
        mirror = dict(connections["default"].settings_dict, TEST={"MIRROR": "default"})
    connections.settings[REPLICA] = mirror
    yield
    connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


@pytest.fixture
def replica(transactional_db, settings):
    settings.DATABASE_ROUTERS = ["config.routers.ListingReadsToReplica"]
    yield connections[REPLICA]
    connections[REPLICA].close()


def _queries(client, url: str, **params) -> tuple:
    """The response to GET `url`, and the SQL each database ran for it."""
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections[REPLICA]) as copy:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json(), [q["sql"] for q in primary.captured_queries], [q["sql"] for q in copy.captured_queries]


def _touch(queries: list[str], table: str) -> bool:
    """Whether an ORM query (Django quotes names; the raw auth query does not) reads `table`."""
    return any(f'FROM "{table}"' in sql for sql in queries)


def test_the_router_sends_reads_to_the_replica_only_inside_a_listing():
    router = ListingReadsToReplica()
    assert router.db_for_read(Recharge) is None  # None: the next router, or default
    token = listing.set(True)
    try:
        assert router.db_for_read(Recharge) == REPLICA
        assert not hasattr(router, "db_for_write")  # writes never leave the primary
    finally:
        listing.reset(token)
    assert router.db_for_read(Recharge) is None


@pytest.mark.parametrize(
    "url, table",
    [
        ("/api/v1/transactions/", "ledger_ledgerentry"),
        ("/api/v1/recharges/", "recharges_recharge"),
        ("/api/v1/credit-requests/", "credits_creditrequest"),
    ],
)
def test_a_sellers_listings_read_the_replica(replica, client_a, sold, url, table):
    body, primary, copy = _queries(client_a, url)
    assert body["results"]  # the replica's connection saw the committed rows
    assert _touch(copy, table) and not _touch(primary, table)
    # Authentication (a revoked token must stop at once) stays on the primary.
    assert any("FROM knox_authtoken" in sql for sql in primary)
    assert not any("knox_authtoken" in sql for sql in copy)


@pytest.mark.parametrize(
    "url, table", [("/api/v1/sellers/", "sellers_seller"), ("/api/v1/credit-requests/", "credits_creditrequest")]
)
def test_staff_listings_read_the_replica(replica, staff_client, seller_a, url, table):
    body, primary, copy = _queries(staff_client, url)
    assert body["results"]
    assert _touch(copy, table) and not _touch(primary, table)


def test_a_lookup_by_idempotency_key_stays_on_the_primary(replica, client_a):
    sale = client_a.post(
        "/api/v1/recharges/",
        {"phone_number": "09121234567", "amount": 5000},
        format="json",
        HTTP_IDEMPOTENCY_KEY="lost-answer-1",
    )
    assert sale.status_code == 201
    body, primary, copy = _queries(client_a, "/api/v1/recharges/", idempotency_key="lost-answer-1")
    assert [r["id"] for r in body["results"]] == [sale.json()["id"]]
    assert _touch(primary, "recharges_recharge")
    assert copy == []


def test_detail_views_and_sales_stay_on_the_primary(replica, client_a, sold):
    with CaptureQueriesContext(connections[REPLICA]) as copy:
        assert client_a.get(f"/api/v1/recharges/{sold['recharge']}/").status_code == 200
        assert client_a.get(f"/api/v1/recharge-batches/{sold['batch']}/").status_code == 200
        assert client_a.get("/api/v1/me/").status_code == 200
        sale = client_a.post("/api/v1/recharges/", {"phone_number": "09121234567", "amount": 5000}, format="json")
        assert sale.status_code == 201
    assert copy.captured_queries == []


def test_the_listing_flag_is_reset_after_the_request(replica, client_a, sold):
    _queries(client_a, "/api/v1/transactions/")
    assert listing.get() is False


def test_no_replica_url_means_no_replica_and_no_router(db):
    shown = _database_settings(DATABASE_REPLICA_URL=None)
    assert shown == {"aliases": ["default"], "routers": [], "replica": None}


def test_a_replica_url_is_parsed_like_database_url_and_mirrors_default_in_tests(db):
    shown = _database_settings(
        DATABASE_REPLICA_URL="postgres://reader@10.0.0.2:6432/recharge",
        DB_TRANSACTION_POOLING="true",
    )
    assert shown["aliases"] == ["default", "replica"]
    assert shown["routers"] == ["config.routers.ListingReadsToReplica"]
    replica = shown["replica"]
    assert (replica["HOST"], replica["PORT"], replica["NAME"], replica["USER"]) == (
        "10.0.0.2",
        6432,
        "recharge",
        "reader",
    )
    assert replica["TEST"]["MIRROR"] == "default"
    assert replica["DISABLE_SERVER_SIDE_CURSORS"] is True  # behind PgBouncer like the primary
    assert replica["ATOMIC_REQUESTS"] is False


_SHOW = (
    "from django.conf import settings; import json; r = settings.DATABASES.get('replica');"
    " print(json.dumps({'aliases': sorted(settings.DATABASES), 'routers': settings.DATABASE_ROUTERS,"
    " 'replica': r and {k: r.get(k) for k in ('HOST', 'PORT', 'NAME', 'USER', 'TEST',"
    " 'DISABLE_SERVER_SIDE_CURSORS', 'ATOMIC_REQUESTS')}}))"
)


def _database_settings(**env) -> dict:
    out = run_django(current_database_url(), "manage.py", "shell", "-c", _SHOW, **env)
    return json.loads(out.strip().splitlines()[-1])
