"""Recharge batches: all or nothing; one recharge and one ledger entry per
item, in item order, with a running balance."""

from tests.helpers.api import API, START_BALANCE, assert_error, balance, nothing_written, post

BATCHES = f"{API}/recharge-batches/"
ITEMS = [
    {"phone_number": "09121234567", "amount": 10_000},
    {"phone_number": "+98 935 123 4567", "amount": 20_000},
    {"phone_number": "00989121234567", "amount": 30_000},
    {"phone_number": "0912-765-4321", "amount": 5_000},
]


def test_batch_sells_each_item_in_order_with_a_running_balance(client_a):
    response = post(client_a, BATCHES, {"items": ITEMS})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "count", "total_amount", "balance_after", "recharges"}
    assert (body["count"], body["total_amount"], body["balance_after"]) == (4, 65_000, START_BALANCE - 65_000)
    assert [(r["phone_number"], r["amount"], r["balance_after"]) for r in body["recharges"]] == [
        ("+989121234567", 10_000, START_BALANCE - 10_000),
        ("+989351234567", 20_000, START_BALANCE - 30_000),
        ("+989121234567", 30_000, START_BALANCE - 60_000),
        ("+989127654321", 5_000, START_BALANCE - 65_000),
    ]
    ids = [r["id"] for r in body["recharges"]]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert balance(client_a) == START_BALANCE - 65_000

    # Each item is its own recharge ...
    for recharge in body["recharges"]:
        assert client_a.get(f"{API}/recharges/{recharge['id']}/").json() == recharge
    # ... and its own ledger entry, newest (last item) first.
    entries = client_a.get(f"{API}/transactions/", {"kind": "recharge"}).json()["results"]
    assert [(e["amount"], e["balance_after"], e["reference"]) for e in entries] == [
        (-r["amount"], r["balance_after"], {"type": "recharge", "id": r["id"]}) for r in reversed(body["recharges"])
    ]


def test_get_batch_returns_the_body_of_the_post(client_a):
    created = post(client_a, BATCHES, {"items": ITEMS}).json()
    assert client_a.get(f"{BATCHES}{created['id']}/").json() == created


def test_batch_above_the_balance_is_402_and_writes_nothing(client_a):
    items = [{"phone_number": "09121234567", "amount": 400_000}] * 2 + [
        {"phone_number": "09121234567", "amount": 200_001}
    ]
    with nothing_written():
        response = post(client_a, BATCHES, {"items": items})
    assert_error(response, 402, "insufficient_balance", {"balance": START_BALANCE, "amount": START_BALANCE + 1})
    assert balance(client_a) == START_BALANCE


def test_batch_of_the_largest_amounts_is_402_without_overflow(client_a):
    items = [{"phone_number": "09121234567", "amount": 10**15}] * 1000
    with nothing_written():
        response = post(client_a, BATCHES, {"items": items})
    assert_error(response, 402, "insufficient_balance", {"balance": START_BALANCE, "amount": 10**18})


def test_batch_that_spends_the_exact_balance(client_a):
    items = [{"phone_number": "09121234567", "amount": 1000}] * 1000
    body = post(client_a, BATCHES, {"items": items}).json()
    assert (body["count"], body["total_amount"], body["balance_after"]) == (1000, START_BALANCE, 0)
    assert [r["balance_after"] for r in body["recharges"]] == [START_BALANCE - 1000 * n for n in range(1, 1001)]
    assert balance(client_a) == 0


def test_one_bad_item_refuses_the_whole_batch(client_a):
    items = [*ITEMS, {"phone_number": "02112345678", "amount": 1000}]
    with nothing_written():
        response = post(client_a, BATCHES, {"items": items})
    assert_error(
        response,
        400,
        "validation_error",
        {"items": {"4": {"phone_number": ["Enter an Iranian mobile number, e.g. 09121234567."]}}},
    )
