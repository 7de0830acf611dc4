"""?validate_only=true on both sale endpoints (contract v1.2): every check a
sale runs, against the state of that moment, and nothing written (balances,
ledger, recharges, numbers, idempotency records); 200 with what the sale
would give, or exactly the error the sale gives. An Idempotency-Key on it is
ignored and not stored."""

import pytest

from tests.helpers.api import API, START_BALANCE, assert_error, nothing_written, post
from tests.helpers.catalogue import IRANCELL_PHONE, MCI_PHONE, books, make_product, set_denominations

RECHARGES = f"{API}/recharges/"
BATCHES = f"{API}/recharge-batches/"
CHECK = "?validate_only=true"
ITEM = {"phone_number": MCI_PHONE, "amount": 5000}


def test_a_sale_that_would_be_made_is_200_and_writes_nothing(client_a, seller_a):
    with nothing_written():
        response = post(client_a, RECHARGES + CHECK, ITEM, key="checked-1")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "valid": True,
        "operator": "mci",
        "amount": 5000,
        "commission_rate": 0,
        "balance_after": START_BALANCE - 5000,
    }
    assert "Idempotent-Replayed" not in response
    # The key was not stored: a different sale may use it.
    sold = post(client_a, RECHARGES, {**ITEM, "amount": 7000}, key="checked-1")
    assert (sold.status_code, sold.json()["amount"]) == (201, 7000)
    assert books(seller_a) == (START_BALANCE - 7000, 2, START_BALANCE - 7000)


def test_the_check_shows_the_package_s_amount_and_the_commission_rate(client_a, seller_a, staff_client):
    make_product("mci-1gb", amount=50_000)
    assert staff_client.put(f"{API}/sellers/{seller_a.pk}/commissions/", {"mci": 250}, format="json").status_code == 200
    with nothing_written():
        response = post(client_a, RECHARGES + CHECK, {"phone_number": MCI_PHONE, "product": "mci-1gb"})
    assert response.json() == {
        "valid": True,
        "operator": "mci",
        "amount": 50_000,
        "commission_rate": 250,
        "balance_after": START_BALANCE - 50_000,
    }


def test_a_batch_that_would_be_sold_is_200_and_writes_nothing(client_a, seller_a):
    items = [ITEM, {"phone_number": IRANCELL_PHONE, "amount": 20_000}]
    with nothing_written():
        response = post(client_a, BATCHES + CHECK, {"items": items}, key="checked-batch")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "valid": True,
        "count": 2,
        "total_amount": 25_000,
        "balance_after": START_BALANCE - 25_000,
    }
    assert post(client_a, BATCHES, {"items": [ITEM]}, key="checked-batch").status_code == 201
    assert books(seller_a) == (START_BALANCE - 5000, 2, START_BALANCE - 5000)


def test_the_check_ignores_a_key_already_used_and_a_malformed_one(client_a, seller_a):
    assert post(client_a, RECHARGES, ITEM, key="used").status_code == 201
    for key in ("used", "not a valid key"):
        with nothing_written():
            response = post(client_a, RECHARGES + CHECK, ITEM, key=key)
        # Checked afresh against today's balance, never the stored answer.
        assert (response.status_code, response.json()["balance_after"]) == (200, START_BALANCE - 10_000)
        assert "Idempotent-Replayed" not in response


def test_validate_only_false_sells(client_a, seller_a):
    first = post(client_a, RECHARGES + "?validate_only=false", ITEM, key="sold-false")
    replay = post(client_a, RECHARGES + "?validate_only=false", ITEM, key="sold-false")
    assert first.status_code == 201
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (201, first.content, "true")
    batch = post(client_a, BATCHES + "?validate_only=false", {"items": [ITEM]})
    assert batch.status_code == 201
    assert books(seller_a) == (START_BALANCE - 10_000, 3, START_BALANCE - 10_000)


@pytest.mark.parametrize(
    "query",
    ["yes", "1", "True", "TRUE", "true%20", "", "true&validate_only=true", "true&validate_only=false"],
)
@pytest.mark.parametrize("path", [RECHARGES, BATCHES])
def test_validate_only_is_true_or_false_once(client_a, path, query):
    body = ITEM if path == RECHARGES else {"items": [ITEM]}
    with nothing_written():
        response = post(client_a, f"{path}?validate_only={query}", body, key="bad-flag")
    assert_error(response, 400, "validation_error", {"validate_only": ["Give it once, as true or false."]})


def _same_refusal(client, path: str, body, status: int, code: str) -> dict:
    """The check's refusal, then the sale's (no key: both bodies as rendered,
    byte for byte): the same status and body; the check wrote nothing."""
    with nothing_written():
        checked = post(client, path + CHECK, body, key="check-refused")
    sold = post(client, path, body)
    assert checked.content == sold.content
    return assert_error(checked, status, code)


@pytest.mark.parametrize("path", [RECHARGES, BATCHES])
def test_a_402_is_the_sale_s_own(client_a, seller_a, path):
    item = {**ITEM, "amount": START_BALANCE + 1}
    body = item if path == RECHARGES else {"items": [ITEM, item]}
    debit = START_BALANCE + 1 + (0 if path == RECHARGES else 5000)
    error = _same_refusal(client_a, path, body, 402, "insufficient_balance")
    assert error["details"] == {"balance": START_BALANCE, "amount": debit}
    assert books(seller_a) == (START_BALANCE, 1, START_BALANCE)


@pytest.mark.parametrize("path", [RECHARGES, BATCHES])
def test_a_403_is_the_sale_s_own(client_a, seller_a, staff_client, path):
    limits = {"max_recharge_amount": 4000, "daily_amount": None, "number_hourly_count": None}
    assert staff_client.put(f"{API}/sellers/{seller_a.pk}/limits/", limits, format="json").status_code == 200
    body = ITEM if path == RECHARGES else {"items": [{**ITEM, "amount": 3000}, ITEM]}
    error = _same_refusal(client_a, path, body, 403, "limit_exceeded")
    assert error["details"] == {"limit": "max_recharge_amount", "allowed": 4000, "used": 5000}
    assert books(seller_a) == (START_BALANCE, 1, START_BALANCE)


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({**ITEM, "operator": "nope"}, {"operator": ['Unknown operator "nope"; GET /api/v1/operators/ lists them.']}),
        (
            {**ITEM, "amount": 15_000},
            {"amount": ['Operator "mci" sells airtime only in these amounts (rials): 10000, 20000.']},
        ),
        (
            {"phone_number": MCI_PHONE, "product": "nope"},
            {"product": ['Unknown product "nope"; GET /api/v1/products/ lists them.']},
        ),
        (
            {"phone_number": "abc", "amount": 5000},
            {"phone_number": ["Enter an Iranian mobile number, e.g. 09121234567."]},
        ),
        ({"phone_number": MCI_PHONE}, {"amount": ["This field is required."]}),
    ],
    ids=["unknown-operator", "denomination", "unknown-product", "bad-phone", "no-amount"],
)
def test_a_400_is_the_sale_s_own(client_a, seller_a, body, details):
    set_denominations("mci", [10_000, 20_000])
    error = _same_refusal(client_a, RECHARGES, body, 400, "validation_error")
    assert error["details"] == details
    batch_error = _same_refusal(client_a, BATCHES, {"items": [body]}, 400, "validation_error")
    assert batch_error["details"] == {"items": {"0": details}}
    assert books(seller_a) == (START_BALANCE, 1, START_BALANCE)


def test_checks_run_in_the_sale_s_order_400_then_403_then_402(client_a, seller_a, staff_client):
    limits = {"max_recharge_amount": 2 * START_BALANCE, "daily_amount": None, "number_hourly_count": None}
    assert staff_client.put(f"{API}/sellers/{seller_a.pk}/limits/", limits, format="json").status_code == 200
    over_both = {**ITEM, "amount": 2 * START_BALANCE + 1}
    _same_refusal(client_a, RECHARGES, {**over_both, "operator": "nope"}, 400, "validation_error")
    _same_refusal(client_a, RECHARGES, over_both, 403, "limit_exceeded")
    _same_refusal(client_a, RECHARGES, {**ITEM, "amount": START_BALANCE + 1}, 402, "insufficient_balance")
    assert books(seller_a) == (START_BALANCE, 1, START_BALANCE)
