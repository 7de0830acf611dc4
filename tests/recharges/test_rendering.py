"""A recharge is rendered once, by recharge_json in the database: the 201, its
replay, GET, the list and the batch agree byte for byte where they should, and
its timestamps are written exactly as DRF writes every other one."""

import pytest

from tests.helpers.sellers import client_for

BODY = {"phone_number": "09121234567", "amount": 5000}


@pytest.fixture
def client(make_seller):
    return client_for(make_seller(balance=100_000).user)


def test_every_endpoint_gives_the_same_recharge(client):
    sold = client.post("/api/v1/recharges/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    replay = client.post("/api/v1/recharges/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert (sold.status_code, replay.status_code, replay["Idempotent-Replayed"]) == (201, 201, "true")
    assert replay.content == sold.content
    body = sold.json()
    assert client.get(f"/api/v1/recharges/{body['id']}/").json() == body
    assert client.get("/api/v1/recharges/").json()["results"] == [body]
    assert client.get("/api/v1/recharges/", {"idempotency_key": "r-1"}).json()["results"] == [body]


def test_the_database_writes_times_as_drf_does(client):
    recharge = client.post("/api/v1/recharges/", BODY, format="json").json()
    entry = client.get("/api/v1/transactions/", {"kind": "recharge"}).json()["results"][0]
    # The entry's created_at is rendered by DRF, the recharge's by api_time(); same instant, same text.
    assert entry["reference"] == {"type": "recharge", "id": recharge["id"]}
    assert recharge["created_at"] == entry["created_at"]


def test_a_batch_renders_its_recharges_as_single_sales_do(client):
    batch = client.post("/api/v1/recharge-batches/", {"items": [BODY, BODY]}, format="json").json()
    assert client.get(f"/api/v1/recharge-batches/{batch['id']}/").json() == batch
    for item in batch["recharges"]:
        assert client.get(f"/api/v1/recharges/{item['id']}/").json() == item
    assert batch["balance_after"] == batch["recharges"][-1]["balance_after"] == 100_000 - 10_000
