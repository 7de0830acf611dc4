"""Cursor pagination and list filters: newest first, full `next`/`previous`
URLs, page_size default 50 and at most 500, each row exactly once."""

from itertools import pairwise
from urllib.parse import parse_qs, urlparse

import pytest

from recharges.services import sell_recharge_batch
from tests.helpers.api import API, E164, START_BALANCE, assert_error, nothing_written, post, walk

RECHARGES = f"{API}/recharges/"
TRANSACTIONS = f"{API}/transactions/"


def sell(seller, count: int, amount: int = 100) -> None:
    assert sell_recharge_batch(seller_id=seller.pk, items=[(E164, amount)] * count).status_code == 201


def test_default_page_is_50_newest_first_and_walking_yields_every_row_once(client_a, seller_a):
    sell(seller_a, 120)
    pages = walk(client_a, RECHARGES)
    assert [len(page) for page in pages] == [50, 50, 20]
    ids = [row["id"] for page in pages for row in page]
    assert ids == sorted(set(ids), reverse=True)
    assert len(ids) == 120


def test_next_and_previous_are_full_urls_with_a_cursor(client_a, seller_a):
    sell(seller_a, 25)
    first = client_a.get(RECHARGES, {"page_size": 10}).json()
    assert first["previous"] is None
    assert first["next"].startswith(f"http://testserver{RECHARGES}?")
    assert set(parse_qs(urlparse(first["next"]).query)) == {"cursor", "page_size"}

    second = client_a.get(first["next"]).json()
    assert second["previous"].startswith(f"http://testserver{RECHARGES}?")
    assert client_a.get(second["previous"]).json()["results"] == first["results"]
    assert second["results"][0]["id"] < first["results"][-1]["id"]

    last = client_a.get(client_a.get(second["next"]).json()["previous"]).json()
    assert last["results"] == second["results"]


@pytest.mark.parametrize("page_size, expected", [(1, 1), (7, 7), (500, 500), (501, 500), (10**6, 500)])
def test_page_size_is_capped_at_500(client_a, seller_a, page_size, expected):
    sell(seller_a, 600)
    body = client_a.get(RECHARGES, {"page_size": page_size}).json()
    assert len(body["results"]) == expected
    assert body["next"] is not None


def test_small_pages_walk_every_row_once(client_a, seller_a):
    sell(seller_a, 23)
    pages = walk(client_a, f"{RECHARGES}?page_size=5")
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    ids = [row["id"] for page in pages for row in page]
    assert ids == sorted(set(ids), reverse=True) and len(ids) == 23


def test_ledger_pages_follow_the_running_balance(client_a, seller_a):
    sell(seller_a, 3, amount=1000)
    sell(seller_a, 4, amount=2000)
    rows = [row for page in walk(client_a, f"{TRANSACTIONS}?page_size=2") for row in page]
    assert len(rows) == 8  # the funding credit and seven sales
    for newer, older in pairwise(rows):
        assert newer["balance_after"] - newer["amount"] == older["balance_after"]
    assert rows[-1]["balance_after"] == rows[-1]["amount"] == START_BALANCE
    assert rows[0]["balance_after"] == START_BALANCE - 11_000


def test_staff_walk_every_seller(staff_client, make_seller):
    sellers = {make_seller().pk for _ in range(7)}
    ids = [row["id"] for page in walk(staff_client, f"{API}/sellers/?page_size=3") for row in page]
    assert ids == sorted(set(ids), reverse=True)
    assert sellers <= set(ids)


def test_transactions_filtered_by_kind(client_a, staff_client, seller_a):
    sell(seller_a, 2)
    post(staff_client, f"{API}/sellers/{seller_a.pk}/adjustments/", {"amount": 10, "reason": "x"})
    kinds = {
        kind: [row["kind"] for row in client_a.get(TRANSACTIONS, {"kind": kind}).json()["results"]]
        for kind in ["credit", "recharge", "adjustment"]
    }
    assert kinds == {"credit": ["credit"], "recharge": ["recharge"] * 2, "adjustment": ["adjustment"]}


@pytest.mark.django_db(transaction=True)  # each sale commits at its own time
def test_created_after_is_inclusive_and_created_before_exclusive(client_a):
    for amount in [1000, 2000, 3000]:
        assert post(client_a, RECHARGES, {"phone_number": E164, "amount": amount}).status_code == 201
    rows = client_a.get(TRANSACTIONS).json()["results"]  # 3000, 2000, 1000, credit
    middle = rows[1]["created_at"]
    assert len({row["created_at"] for row in rows}) == 4

    def amounts(**filters):
        return [row["amount"] for row in client_a.get(TRANSACTIONS, filters).json()["results"]]

    assert amounts(created_after=middle) == [-3000, -2000]
    assert amounts(created_before=middle) == [-1000, START_BALANCE]
    assert amounts(created_after=middle, created_before=middle) == []
    assert amounts(created_after=middle, created_before=rows[0]["created_at"]) == [-2000]
    assert amounts(created_after="2000-01-01") == [-3000, -2000, -1000, START_BALANCE]
    assert amounts(created_before="2000-01-01T00:00:00+03:30") == []


@pytest.mark.parametrize(
    "path, query, field",
    [
        (TRANSACTIONS, {"kind": "refunds"}, "kind"),
        (TRANSACTIONS, {"created_after": "yesterday"}, "created_after"),
        (TRANSACTIONS, {"created_before": "2024-13-01"}, "created_before"),
        (f"{API}/credit-requests/", {"status": "done"}, "status"),
        (RECHARGES, {"cursor": "not-a-cursor"}, "cursor"),
        (TRANSACTIONS, {"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_invalid_filter_values_are_400(client_a, path, query, field):
    with nothing_written():
        error = assert_error(client_a.get(path, query), 400, "validation_error")
    assert list(error["details"]) == [field]
