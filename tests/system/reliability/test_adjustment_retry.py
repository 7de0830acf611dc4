"""A staff tool that retries an adjustment after losing the response.

The chaos run's kill phase found it: a worker SIGKILLed after the adjustment
committed, the client saw a connection error and sent the request again with
the same Idempotency-Key, and the balance moved twice, because the endpoint
ignored the key. This is the deterministic form: the same key twice adjusts once.
"""

from typing import Any

import requests

from loadtests.server import ApiServer, database_facts, seed


def test_an_adjustment_sent_twice_with_one_key_applies_once(private_postgres):
    url = private_postgres.fresh_database()
    seeded = seed(url, sellers=1, credit=1_000_000)
    seller_id = seeded.sellers[0]["seller_id"]
    headers = {"Authorization": f"Token {seeded.staff_token}", "Idempotency-Key": "adjust-1"}
    body: dict[str, Any] = {"amount": -1000, "reason": "chargeback 1234"}
    with ApiServer(url, workers=1) as api:
        first = requests.post(
            f"{api.url}/api/v1/sellers/{seller_id}/adjustments/", json=body, headers=headers, timeout=10
        )
        again = requests.post(
            f"{api.url}/api/v1/sellers/{seller_id}/adjustments/", json=body, headers=headers, timeout=10
        )
    facts = database_facts(url)
    private_postgres.drop_database(url.split("/")[-1].split("?")[0])

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert len(facts["adjustments"]) == 1
