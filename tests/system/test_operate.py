"""Metrics and logs of a real gunicorn with several worker processes: what
/metrics sums is every worker's, a killed worker's counts included, and each
request leaves one JSON line carrying its request id and no secret."""

import json
import tempfile
from pathlib import Path

import pytest
import requests

from loadtests.server import ApiServer
from sellers.services import create_seller
from tests.helpers.sellers import fund
from tests.helpers.workers import current_database_url

pytestmark = pytest.mark.django_db(transaction=True)

SALES = 40


def sample(text: str, name: str) -> float:
    """The value of one sample line of the Prometheus text format."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


@pytest.fixture
def server(transactional_db):
    with tempfile.TemporaryDirectory(prefix="metrics-test-") as metrics_dir:
        env = {
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            "METRICS_TOKEN": "scrape",
        }
        with ApiServer(current_database_url(), workers=3, env=env) as api:
            yield api


def test_metrics_sum_every_worker_and_log_lines_carry_the_request_id(server, staff_user):
    seller, token = create_seller(name="Metered", username="metered")
    fund(seller, SALES * 1000, staff_user)
    log_start = server.log_size()
    ids = []
    for number in range(SALES):
        # A new connection each time: gunicorn's sync workers take turns.
        response = requests.post(
            f"{server.url}/api/v1/recharges/",
            json={"phone_number": f"0912{number:07d}", "amount": 1000},
            headers={"Authorization": f"Token {token}", "X-Request-ID": f"sale-{number}", "Connection": "close"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == f"sale-{number}"
        ids.append(response.json()["id"])
        if number == SALES // 2:
            server.kill_worker()  # its counts stay in its files
    assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 403
    text = requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer scrape"}, timeout=10).text
    assert sample(text, 'recharge_sales_total{kind="single",outcome="created"}') == SALES
    assert sample(text, 'recharge_http_requests_total{method="POST",route="api/v1/recharges/",status="201"}') == SALES
    assert sample(text, "recharge_delivery_queue_due") == SALES  # no worker delivers in this test

    lines = [json.loads(line) for line in server.log_text(log_start).splitlines() if line.startswith("{")]
    sales = [line for line in lines if line.get("event") == "request" and line.get("route") == "api/v1/recharges/"]
    assert sorted(line["request_id"] for line in sales) == sorted(f"sale-{number}" for number in range(SALES))
    assert all(line["status"] == 201 and line["level"] == "info" and "timestamp" in line for line in sales)
    assert token not in server.log_text(log_start)
    assert not list(Path(server.extra_env["PROMETHEUS_MULTIPROC_DIR"]).glob("gauge_live*"))  # no live gauges kept
