"""The seed scenario and the brief's example, over HTTP only: staff create
sellers, sellers ask for credit, staff approve, sellers sell recharges."""

from rest_framework.test import APIClient

from ledger.selectors import reconcile
from tests.helpers.api import API, all_rows, balance, post

PHONES = ["09121234567", "+989351234567", "989127654321", "0098 912 111 2233"]


def new_seller(staff_client, name: str, username: str) -> APIClient:
    response = post(staff_client, f"{API}/sellers/", {"name": name, "username": username})
    assert response.status_code == 201, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['api_token']}")
    return client


def top_up(client, staff_client, amount: int) -> None:
    request_id = post(client, f"{API}/credit-requests/", {"amount": amount}).json()["id"]
    response = staff_client.post(f"{API}/credit-requests/{request_id}/approve/")
    assert response.status_code == 200, response.content


def ledger_of(client) -> list[dict]:
    return all_rows(client, f"{API}/transactions/?page_size=500")


def test_seed_scenario(staff_client):
    shop1 = new_seller(staff_client, "Shop 1", "shop1")
    shop2 = new_seller(staff_client, "Shop 2", "shop2")
    for amount in [1_000_000, 2_000_000, 3_000_000, 1_500_000, 2_500_000]:
        top_up(shop1, staff_client, amount)
    for amount in [500_000, 1_000_000, 1_000_000, 1_500_000, 1_000_000]:
        top_up(shop2, staff_client, amount)
    assert (balance(shop1), balance(shop2)) == (10_000_000, 5_000_000)

    for i in range(1000):
        client, amount = (shop1, 10_000) if i % 5 < 3 else (shop2, 5_000)
        response = post(client, f"{API}/recharges/", {"phone_number": PHONES[i % len(PHONES)], "amount": amount})
        assert response.status_code == 201, response.content

    assert (balance(shop1), balance(shop2)) == (4_000_000, 3_000_000)  # 600 x 10,000 and 400 x 5,000
    for client, entries, recharges in [(shop1, 605, 600), (shop2, 405, 400)]:
        ledger = ledger_of(client)
        assert len(ledger) == entries
        assert sum(row["amount"] for row in ledger) == balance(client)
        assert ledger[0]["balance_after"] == balance(client)
        assert len(all_rows(client, f"{API}/recharges/?page_size=500")) == recharges
    staff_view = {row["name"]: row["balance"] for row in all_rows(staff_client, f"{API}/sellers/")}
    assert (staff_view["Shop 1"], staff_view["Shop 2"]) == (4_000_000, 3_000_000)
    assert reconcile() == []


def test_brief_example(staff_client):
    shop = new_seller(staff_client, "Shop", "shop")
    top_up(shop, staff_client, 1_000_000)
    for _ in range(60):
        assert post(shop, f"{API}/recharges/", {"phone_number": "09121234567", "amount": 5000}).status_code == 201
    assert balance(shop) == 700_000
    ledger = ledger_of(shop)
    assert [row["kind"] for row in ledger] == ["recharge"] * 60 + ["credit"]
    assert sum(row["amount"] for row in ledger) == 700_000
