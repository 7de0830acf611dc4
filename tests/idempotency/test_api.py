"""Idempotency-Key: a repeat replays the first answer and moves no money; a
different body or endpoint is 422; a 402 is kept and replayed; a 400 keeps
nothing; keys belong to one seller."""

import pytest

from idempotency.models import IdempotencyRecord
from tests.helpers.api import API, ITEM_BODY, PHONE, START_BALANCE, Raw, assert_error, balance, nothing_written, post
from tests.helpers.sellers import fund

RECHARGES = f"{API}/recharges/"
BATCHES = f"{API}/recharge-batches/"
CREDIT_REQUESTS = f"{API}/credit-requests/"

# The same request written two ways: key order and white space differ.
SAME = {
    RECHARGES: (
        Raw(f'{{"phone_number":"{PHONE}","amount":5000}}'),
        Raw(f'{{\n  "amount" : 5000 ,\n  "phone_number" : "{PHONE}"\n}}\n'),
    ),
    BATCHES: (
        Raw(f'{{"items":[{{"phone_number":"{PHONE}","amount":5000}},{{"amount":7000,"phone_number":"{PHONE}"}}]}}'),
        Raw(
            f'{{ "items" : [ {{ "amount":5000, "phone_number":"{PHONE}" }}, {{"phone_number":"{PHONE}","amount":7000}} ] }}'
        ),
    ),
    CREDIT_REQUESTS: (Raw('{"amount":5000}'), Raw('  {\t"amount":   5000 }  ')),
}
DEBIT = {RECHARGES: 5000, BATCHES: 12_000, CREDIT_REQUESTS: 0}
OTHER_BODY = {
    RECHARGES: {"phone_number": PHONE, "amount": 5001},
    BATCHES: {"items": [{"phone_number": PHONE, "amount": 5000}]},
    CREDIT_REQUESTS: {"amount": 5001},
}
VALID_BODY = OTHER_BODY  # valid too, and different from SAME


@pytest.mark.parametrize("path", list(SAME))
def test_same_key_and_body_replays_the_first_response(client_a, path):
    first_body, same_body = SAME[path]
    first = post(client_a, path, first_body, key="key-1")
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first

    with nothing_written():
        replay = post(client_a, path, same_body, key="key-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert balance(client_a) == START_BALANCE - DEBIT[path]


def test_replay_of_a_sale_still_answers_201_once_the_balance_is_spent(client_a):
    first = post(client_a, RECHARGES, {**ITEM_BODY, "amount": START_BALANCE}, key="all-of-it")
    assert first.json()["balance_after"] == 0
    with nothing_written():
        replay = post(client_a, RECHARGES, {**ITEM_BODY, "amount": START_BALANCE}, key="all-of-it")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert balance(client_a) == 0


@pytest.mark.parametrize("path", list(SAME))
def test_same_key_with_another_body_is_422(client_a, path):
    assert post(client_a, path, SAME[path][0], key="key-1").status_code == 201
    with nothing_written():
        assert_error(post(client_a, path, OTHER_BODY[path], key="key-1"), 422, "idempotency_key_reused")
    assert balance(client_a) == START_BALANCE - DEBIT[path]


@pytest.mark.parametrize("first_path, second_path", [(a, b) for a in SAME for b in SAME if a != b])
def test_same_key_on_another_endpoint_is_422(client_a, first_path, second_path):
    assert post(client_a, first_path, VALID_BODY[first_path], key="shared").status_code == 201
    with nothing_written():
        assert_error(post(client_a, second_path, VALID_BODY[second_path], key="shared"), 422, "idempotency_key_reused")


@pytest.mark.parametrize(
    "path, body, debit",
    [
        (RECHARGES, {**ITEM_BODY, "amount": START_BALANCE + 1}, START_BALANCE + 1),
        (BATCHES, {"items": [{**ITEM_BODY, "amount": START_BALANCE}, {**ITEM_BODY, "amount": 1}]}, START_BALANCE + 1),
    ],
)
def test_a_402_is_stored_and_replayed_even_after_a_top_up(client_a, seller_a, staff_user, path, body, debit):
    refused = post(client_a, path, body, key="too-much")
    assert_error(refused, 402, "insufficient_balance", {"balance": START_BALANCE, "amount": debit})
    assert IdempotencyRecord.objects.filter(seller=seller_a, key="too-much").count() == 1

    fund(seller_a, 5_000_000, staff_user)
    with nothing_written():
        replay = post(client_a, path, body, key="too-much")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (402, refused.json(), "true")

    retried = post(client_a, path, body, key="new-key")
    assert retried.status_code == 201, retried.content
    assert balance(client_a) == START_BALANCE + 5_000_000 - debit


@pytest.mark.parametrize("path", list(SAME))
def test_a_400_stores_nothing_so_the_key_can_be_used_again(client_a, path):
    with nothing_written():
        assert_error(post(client_a, path, {"amount": "5000"}, key="fix-and-retry"), 400, "validation_error")
    response = post(client_a, path, VALID_BODY[path], key="fix-and-retry")
    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response


def test_keys_are_scoped_per_seller(client_a, client_b):
    mine = post(client_a, RECHARGES, {**ITEM_BODY, "amount": 5000}, key="common-key")
    theirs = post(client_b, RECHARGES, {**ITEM_BODY, "amount": 9000}, key="common-key")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert (balance(client_a), balance(client_b)) == (START_BALANCE - 5000, START_BALANCE - 9000)


def test_lookup_by_key_finds_the_recharge_made_under_it(client_a, client_b):
    sale = post(client_a, RECHARGES, ITEM_BODY, key="lost-response").json()
    post(client_a, RECHARGES, ITEM_BODY, key="another")
    post(client_a, RECHARGES, ITEM_BODY)

    found = client_a.get(RECHARGES, {"idempotency_key": "lost-response"}).json()
    assert found == {"next": None, "previous": None, "results": [sale]}
    assert client_a.get(RECHARGES, {"idempotency_key": "never-used"}).json()["results"] == []
    assert client_b.get(RECHARGES, {"idempotency_key": "lost-response"}).json()["results"] == []


def test_lookup_by_key_of_a_batch_finds_every_recharge_it_made(client_a, client_b):
    batch = post(client_a, BATCHES, {"items": [ITEM_BODY, {**ITEM_BODY, "amount": 7000}]}, key="lost-batch").json()
    post(client_a, BATCHES, {"items": [ITEM_BODY]}, key="another-batch")
    post(client_a, RECHARGES, ITEM_BODY, key="a-sale")

    found = client_a.get(RECHARGES, {"idempotency_key": "lost-batch"}).json()
    assert found == {"next": None, "previous": None, "results": batch["recharges"][::-1]}  # newest first
    assert client_b.get(RECHARGES, {"idempotency_key": "lost-batch"}).json()["results"] == []
    assert [r["amount"] for r in client_a.get(RECHARGES, {"idempotency_key": "a-sale"}).json()["results"]] == [5000]


def test_lookup_by_key_of_a_refused_sale_is_empty(client_a):
    assert post(client_a, RECHARGES, {**ITEM_BODY, "amount": START_BALANCE + 1}, key="refused").status_code == 402
    assert client_a.get(RECHARGES, {"idempotency_key": "refused"}).json()["results"] == []


def test_credit_request_with_a_key_is_filed_once(client_a):
    first = post(client_a, CREDIT_REQUESTS, {"amount": 300_000}, key="top-up-1")
    replay = post(client_a, CREDIT_REQUESTS, {"amount": 300_000}, key="top-up-1")
    assert first.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    ids = [row["id"] for row in client_a.get(CREDIT_REQUESTS, {"status": "pending"}).json()["results"]]
    assert ids == [first.json()["id"]]


def test_replayed_credit_request_keeps_its_first_answer_after_approval(client_a, staff_client):
    first = post(client_a, CREDIT_REQUESTS, {"amount": 300_000}, key="top-up-1").json()
    assert staff_client.post(f"{API}/credit-requests/{first['id']}/approve/").status_code == 200
    replay = post(client_a, CREDIT_REQUESTS, {"amount": 300_000}, key="top-up-1")
    assert replay.json() == first  # the stored first response, status "pending"
    assert balance(client_a) == START_BALANCE + 300_000


def test_same_number_written_another_way_is_another_body(client_a):
    """ "The same request" is the same parsed JSON body, not the same meaning."""
    assert post(client_a, RECHARGES, {"phone_number": "09121234567", "amount": 5000}, key="k").status_code == 201
    with nothing_written():
        response = post(client_a, RECHARGES, {"phone_number": "+989121234567", "amount": 5000}, key="k")
    assert_error(response, 422, "idempotency_key_reused")


def test_staff_adjustment_with_a_key_applies_once(staff_client, seller_a, client_a):
    path = f"{API}/sellers/{seller_a.pk}/adjustments/"
    body = {"amount": -1_000, "reason": "chargeback 1234"}
    first = post(staff_client, path, body, key="adjust-1")
    assert first.status_code == 201
    with nothing_written():
        replay = post(staff_client, path, body, key="adjust-1")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert balance(client_a) == START_BALANCE - 1_000
    assert_error(post(staff_client, path, {**body, "amount": -2_000}, key="adjust-1"), 422, "idempotency_key_reused")


def test_refused_adjustment_with_a_key_is_replayed(staff_client, seller_a, client_a, staff_user):
    path = f"{API}/sellers/{seller_a.pk}/adjustments/"
    body = {"amount": -(START_BALANCE + 1), "reason": "too much"}
    first = post(staff_client, path, body, key="adjust-2")
    assert_error(first, 402, "insufficient_balance", {"balance": START_BALANCE, "amount": START_BALANCE + 1})
    fund(seller_a, 5_000, staff_user)
    replay = post(staff_client, path, body, key="adjust-2")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (402, first.json(), "true")
    assert balance(client_a) == START_BALANCE + 5_000
