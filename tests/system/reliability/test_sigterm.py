"""SIGTERM under load loses no accepted request.

Several threads send a steady stream of recharges, each with its own
Idempotency-Key; mid-stream the gunicorn master gets SIGTERM (what systemd,
Docker and Kubernetes send). Every request that got a response got all of it,
every 201 has its recharge and ledger entry, and no request whose connection
broke without an answer was carried out behind the client's back. Connection
refused once the server is gone is fine.
"""

import signal
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from loadtests.server import ApiServer, database_facts, seed

THREADS = 6
MAX_REQUESTS_PER_THREAD = 400


@pytest.fixture
def live(private_postgres):
    url = private_postgres.fresh_database()
    seeded = seed(url, sellers=THREADS, credit=100_000_000)
    api = ApiServer(url, workers=4).start()
    yield api, url, seeded
    api.stop(signal.SIGKILL)
    private_postgres.drop_database(url.split("/")[-1].split("?")[0])


def _send_until_refused(base_url: str, token: str, outcomes: list, stop_at: float) -> None:
    refused = 0
    for _ in range(MAX_REQUESTS_PER_THREAD):
        if refused >= 3 or time.monotonic() > stop_at:
            return
        key = f"term-{uuid.uuid4().hex}"
        body: dict[str, Any] = {"phone_number": "09121234567", "amount": 1000}
        try:
            response = requests.post(
                base_url + "/api/v1/recharges/",
                json=body,
                headers={"Authorization": f"Token {token}", "Idempotency-Key": key},
                timeout=10,
            )
        except requests.ConnectionError as error:
            kind = "refused" if "refused" in str(error).lower() else "broken"
            refused += kind == "refused"
            outcomes.append({"key": key, "outcome": kind, "error": str(error)[:200]})
            time.sleep(0.05)
            continue
        except requests.Timeout:
            outcomes.append({"key": key, "outcome": "timeout"})
            continue
        outcome = {"key": key, "outcome": response.status_code}
        if response.status_code == 201:
            outcome["recharge"] = response.json()  # raises if the body was cut short
        outcomes.append(outcome)


def test_sigterm_mid_stream_loses_no_accepted_request(live):
    api, url, seeded = live
    outcomes: list[dict] = []
    stop_at = time.monotonic() + 40
    threads = [
        threading.Thread(target=_send_until_refused, args=(api.url, seller["token"], outcomes, stop_at))
        for seller in seeded.sellers
    ]
    for thread in threads:
        thread.start()
    while sum(1 for o in outcomes if o["outcome"] == 201) < 50 and time.monotonic() < stop_at:
        time.sleep(0.05)
    api.process.send_signal(signal.SIGTERM)
    exit_code = api.process.wait(40)
    for thread in threads:
        thread.join(60)

    facts = database_facts(url)
    recharges = {row[3]: row for row in facts["recharges"]}
    entries = dict(map(tuple, facts["entries_per_recharge"]))
    answered = [o for o in outcomes if o["outcome"] == 201]
    broken = [o for o in outcomes if o["outcome"] in ("broken", "timeout")]
    assert exit_code == 0, api.log_tail()
    assert len(answered) >= 50
    assert any(o["outcome"] == "refused" for o in outcomes), "the stream did not run into the shutdown"
    assert {o["outcome"] for o in outcomes} <= {201, "refused", "broken", "timeout"}
    for outcome in answered:
        recharge = recharges[outcome["key"]]
        assert recharge[0] == outcome["recharge"]["id"]
        assert entries[recharge[0]] == 1
    # A connection that broke without an answer must not have moved money.
    assert [o for o in broken if o["key"] in recharges] == []
    # Everything written was answered: no recharge without its client's 201.
    assert len(facts["recharges"]) == len(answered)
    assert facts["reconcile"] == []
