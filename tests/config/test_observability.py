"""Metrics, request ids and request log lines, through Django's whole
middleware stack (the test client) on the real database.

The tests run without PROMETHEUS_MULTIPROC_DIR, so each metric is in this
process's registry and is read back exactly; tests/system/test_operate.py
checks the multiprocess sums under gunicorn.
"""

import pytest
import requests
import structlog
from django.db import connection
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from config import health
from config.metrics import serve_metrics
from loadtests.server import free_port
from recharges.delivery import Outcome, record_outcomes
from recharges.models import Recharge
from tests.helpers.api import API, post, recharge_body

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def seller(make_seller):
    return make_seller(balance=10_000)


@pytest.fixture
def client(seller, seller_client):
    return seller_client(seller)


def test_sales_are_counted_by_outcome_on_the_fast_path_and_through_drf(client):
    before = {
        outcome: value("recharge_sales_total", kind="single", outcome=outcome)
        for outcome in ("created", "replay", "insufficient_balance", "refused")
    }
    assert post(client, f"{API}/recharges/", recharge_body(4000), key="k1").status_code == 201
    assert post(client, f"{API}/recharges/", recharge_body(4000), key="k1").status_code == 201  # replay
    assert post(client, f"{API}/recharges/", recharge_body(7000)).status_code == 402
    # A body only DRF handles (the fast path leaves every error to it): counted all the same.
    assert post(client, f"{API}/recharges/", recharge_body(0)).status_code == 400
    after = {outcome: value("recharge_sales_total", kind="single", outcome=outcome) for outcome in before}
    assert {outcome: after[outcome] - before[outcome] for outcome in before} == {
        "created": 1,
        "replay": 1,
        "insufficient_balance": 1,
        "refused": 1,
    }


def test_batches_are_counted_apart(client):
    before = value("recharge_sales_total", kind="batch", outcome="created")
    assert post(client, f"{API}/recharge-batches/", {"items": [recharge_body(1000)]}).status_code == 201
    assert value("recharge_sales_total", kind="batch", outcome="created") == before + 1


def test_requests_are_labelled_by_url_pattern_not_path(client):
    labels = {"route": "api/v1/recharges/<int:recharge_id>/", "method": "GET", "status": "404"}
    before = value("recharge_http_requests_total", **labels)
    count_before = value("recharge_http_request_duration_seconds_count", route=labels["route"])
    assert client.get(f"{API}/recharges/123456789/").status_code == 404
    assert client.get(f"{API}/recharges/987654321/").status_code == 404
    assert value("recharge_http_requests_total", **labels) == before + 2
    assert value("recharge_http_request_duration_seconds_count", route=labels["route"]) == count_before + 2
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "404"}
    before = value("recharge_http_requests_total", **unmatched)
    assert client.get("/no/such/page").status_code == 404
    assert value("recharge_http_requests_total", **unmatched) == before + 1


def test_credits_adjustments_and_refunds_are_counted_once_committed(
    make_seller, staff_client, django_capture_on_commit_callbacks
):
    credits, rials = (
        value("recharge_ledger_postings_total", kind="credit"),
        value("recharge_ledger_posted_rials_total", kind="credit", direction="in"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        seller = make_seller(balance=2500)
    assert value("recharge_ledger_postings_total", kind="credit") == credits + 1
    assert value("recharge_ledger_posted_rials_total", kind="credit", direction="in") == rials + 2500
    out = value("recharge_ledger_posted_rials_total", kind="adjustment", direction="out")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff_client, f"{API}/sellers/{seller.pk}/adjustments/", {"amount": -300, "reason": "fee"})
    assert response.status_code == 201, response.content
    assert value("recharge_ledger_posted_rials_total", kind="adjustment", direction="out") == out + 300


def test_deliveries_and_refunds_are_counted_by_result(seller, client, django_capture_on_commit_callbacks):
    ids = [post(client, f"{API}/recharges/", recharge_body(1000)).json()["id"] for _ in range(3)]
    before = {
        result: value("recharge_deliveries_total", result=result) for result in ("successful", "failed", "unknown")
    }
    refunds = value("recharge_ledger_postings_total", kind="refund")
    with django_capture_on_commit_callbacks(execute=True):
        record_outcomes(
            [
                Outcome(ids[0], Recharge.Status.SUCCESSFUL, operator_reference="R1"),
                Outcome(ids[1], Recharge.Status.FAILED, failure_code=Recharge.Failure.OPERATOR_DECLINED),
                Outcome(ids[2], None, message="timeout"),
            ]
        )
    after = {result: value("recharge_deliveries_total", result=result) for result in before}
    assert {result: after[result] - before[result] for result in before} == {"successful": 1, "failed": 1, "unknown": 1}
    assert value("recharge_ledger_postings_total", kind="refund") == refunds + 1


def test_metrics_page_sums_the_queue_from_the_database(client):
    for _ in range(2):
        assert post(client, f"{API}/recharges/", recharge_body(1000)).status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("UPDATE recharges_recharge SET next_attempt_at = now() - interval '90 seconds'")
    response = APIClient().get("/metrics")  # from 127.0.0.1, no token set: open in development
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "recharge_delivery_queue_due 2.0" in text
    oldest = next(line for line in text.splitlines() if line.startswith("recharge_delivery_queue_oldest_due_seconds "))
    assert 90 <= float(oldest.split()[1]) < 120
    assert 'recharge_sales_total{kind="single",outcome="created"}' in text


def test_metrics_need_the_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    anonymous = APIClient()
    assert anonymous.get("/metrics").status_code == 403
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200


def test_metrics_without_a_token_are_closed_to_other_machines_and_in_production(settings):
    assert APIClient().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.PRODUCTION = True
    assert APIClient().get("/metrics").status_code == 403


@pytest.mark.parametrize(
    "given, kept",
    [
        ("terminal-42.abc", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("with space", False),
        ("caf\u00e9", False),
        ("line\nbreak", False),
        ("", False),
    ],
)
def test_request_id_is_the_clients_when_short_visible_ascii(client, given, kept):
    response = client.get(f"{API}/me/", HTTP_X_REQUEST_ID=given)
    assert response.status_code == 200
    if kept:
        assert response["X-Request-ID"] == given
    else:
        assert len(response["X-Request-ID"]) == 32 and response["X-Request-ID"] != given


def test_one_log_line_per_request_with_its_id_and_no_secrets(client, seller):
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        response = post(client, f"{API}/recharges/", recharge_body(1000), key="log-key")
    assert response.status_code == 201
    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["request_id"] == response["X-Request-ID"]
    assert {key: line[key] for key in ("method", "route", "path", "status")} == {
        "method": "POST",
        "route": "api/v1/recharges/",
        "path": "/api/v1/recharges/",
        "status": 201,
    }
    token = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert token not in repr(lines) and "09121234567" not in repr(lines)


def test_readyz_is_ready_with_an_empty_queue(client):
    response = APIClient().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": "ok",
        "migrations": "ok",
        "queue": "ok",
        "oldest_due_seconds": 0.0,
    }


def test_readyz_says_when_the_queue_is_stuck(client, settings):
    settings.READY_QUEUE_MAX_AGE_SECONDS = 60
    assert post(client, f"{API}/recharges/", recharge_body(1000)).status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("UPDATE recharges_recharge SET next_attempt_at = now() - interval '61 seconds'")
    response = APIClient().get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert (body["status"], body["queue"], body["database"]) == ("not_ready", "stuck", "ok")
    assert body["oldest_due_seconds"] >= 61
    settings.READY_QUEUE_MAX_AGE_SECONDS = 0  # the check turned off
    assert APIClient().get("/readyz").status_code == 200


def test_readyz_says_when_a_migration_is_not_applied(monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    with connection.cursor() as cursor:
        # The app's newest migration: a leaf of the migration graph.
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'recharges'"
            " AND name = (SELECT max(name) FROM django_migrations WHERE app = 'recharges')"
        )
    response = APIClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "pending"


def test_a_worker_serves_its_own_metrics_with_the_same_token_rule(transactional_db, settings):
    settings.METRICS_TOKEN = "worker-scrape"
    port = free_port()
    server = serve_metrics(host="127.0.0.1", port=port)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert requests.get(url, timeout=5).status_code == 403
        response = requests.get(url, headers={"Authorization": "Bearer worker-scrape"}, timeout=5)
        assert response.status_code == 200
        assert "recharge_delivery_queue_due 0.0" in response.text
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
def test_metrics_and_readiness_answer_other_methods_with_the_json_405(path):
    response = APIClient(enforce_csrf_checks=True).post(path, {"x": 1}, format="json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"


def _series(name: str) -> int:
    return sum(1 for metric in REGISTRY.collect() if metric.name == name for _ in metric.samples)


def test_invented_methods_and_paths_add_no_time_series(client):
    """Issue 18, item 9: the method was a label taken as sent, so anyone could
    grow /metrics (and the multiprocess files) without bound."""
    client.generic("BREW", "/no/such/page")  # the one series an unknown method and path may have
    client.generic("BREW", "/healthz")
    before = {name: _series(name) for name in ("recharge_http_requests", "recharge_http_request_duration_seconds")}
    for n in range(200):
        client.generic(f"M{n}", f"/invented/{n}/")
        client.generic(f"X-{n}", "/healthz")
        client.get(f"/invented/{n}/path")
    after = {name: _series(name) for name in before}
    assert after == before
    assert value("recharge_http_requests_total", route="<unmatched>", method="other", status="404") >= 200
