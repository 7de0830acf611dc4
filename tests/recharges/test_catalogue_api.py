"""The catalogue over HTTP (contract v1.2): data packages sold by code (the
amount is the package's), operators' fixed denominations, GET /products/
and the new fields of GET /operators/. Every refusal is a 400 naming the
field, with nothing written; both sale paths (the fast one, and DRF's,
taken with a query string) give the same answers."""

import json

import pytest

from recharges.models import Operator, Recharge
from tests.helpers.api import API, START_BALANCE, assert_error, nothing_written, post
from tests.helpers.catalogue import IRANCELL_PHONE, MCI_PHONE, books, make_product, set_denominations, staff_holding
from tests.helpers.sellers import client_for

RECHARGES = f"{API}/recharges/"
BATCHES = f"{API}/recharge-batches/"
# The same endpoint through DRF's path: the fast path leaves any URL with a query string to it.
RECHARGES_BY_DRF = f"{RECHARGES}?validate_only=false"


@pytest.fixture
def packages(db):
    return {
        "mci": make_product("mci-1gb", amount=50_000),
        "mci-big": make_product("mci-10gb", amount=300_000),
        "irancell": make_product("irancell-2gb", operator="irancell", amount=70_000),
        "disabled": make_product("mci-old", amount=20_000, enabled=False),
    }


def test_a_package_is_sold_by_its_code_for_its_amount(client_a, seller_a, packages):
    response = post(client_a, RECHARGES, {"phone_number": MCI_PHONE, "product": "mci-1gb"}, key="pkg-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount"], body["product"], body["operator"], body["status"]) == (50_000, "mci-1gb", "mci", "pending")
    assert (body["commission_rate"], body["commission"], body["balance_after"]) == (0, 0, START_BALANCE - 50_000)
    # The credit that funded the seller, then the sale's debit of the package's amount.
    assert books(seller_a) == (START_BALANCE - 50_000, 2, START_BALANCE - 50_000)
    recharge = Recharge.objects.get(pk=body["id"])
    assert (recharge.product, recharge.amount) == ("mci-1gb", 50_000)
    assert client_a.get(f"{RECHARGES}{body['id']}/").json() == body


def test_a_package_sold_with_its_own_amount_and_replayed(client_a, seller_a, packages):
    body = {"phone_number": MCI_PHONE, "product": "mci-1gb", "amount": 50_000}
    first = post(client_a, RECHARGES, body, key="pkg-2")
    replay = post(client_a, RECHARGES, body, key="pkg-2")
    assert first.status_code == 201
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (201, first.content, "true")
    assert books(seller_a) == (START_BALANCE - 50_000, 2, START_BALANCE - 50_000)


def test_an_amount_sent_with_a_package_must_be_its_amount(client_a, seller_a, packages):
    for path in (RECHARGES, RECHARGES_BY_DRF):
        with nothing_written():
            response = post(client_a, path, {"phone_number": MCI_PHONE, "product": "mci-1gb", "amount": 50_001})
        assert_error(
            response,
            400,
            "validation_error",
            {"amount": ['Product "mci-1gb" costs 50000 rials; send that amount, or none.']},
        )
    assert books(seller_a) == (START_BALANCE, 1, START_BALANCE)


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"phone_number": MCI_PHONE, "product": "no-such"},
            {"product": ['Unknown product "no-such"; GET /api/v1/products/ lists them.']},
        ),
        (
            {"phone_number": MCI_PHONE, "product": "mci-old"},
            {"product": ['Product "mci-old" is not on sale now.']},
        ),
        (
            {"phone_number": MCI_PHONE, "product": "irancell-2gb"},
            {
                "product": [
                    'Product "irancell-2gb" is a package of operator "irancell", not of "mci", the operator of this sale.'
                ]
            },
        ),
        (
            # The operator override decides whose package fits: here MCI's no longer does.
            {"phone_number": MCI_PHONE, "product": "mci-1gb", "operator": "irancell"},
            {
                "product": [
                    'Product "mci-1gb" is a package of operator "mci", not of "irancell", the operator of this sale.'
                ]
            },
        ),
        (
            {"phone_number": MCI_PHONE, "product": "mci-1gb", "operator": "nope"},
            {"operator": ['Unknown operator "nope"; GET /api/v1/operators/ lists them.']},
        ),
    ],
    ids=["unknown", "disabled", "another-operator", "override-to-another-operator", "unknown-operator"],
)
def test_a_package_that_cannot_be_sold_is_400_and_writes_nothing(client_a, seller_a, packages, body, details):
    for path in (RECHARGES, RECHARGES_BY_DRF):
        with nothing_written():
            assert_error(post(client_a, path, body, key="pkg-refused"), 400, "validation_error", details)
    # A 400 stores nothing: the key is still free.
    assert post(client_a, RECHARGES, {"phone_number": MCI_PHONE, "amount": 5000}, key="pkg-refused").status_code == 201


def test_a_ported_number_buys_its_new_operator_s_package(client_a, seller_a, packages):
    response = post(client_a, RECHARGES, {"phone_number": MCI_PHONE, "product": "irancell-2gb", "operator": "irancell"})
    assert response.status_code == 201, response.content
    assert (response.json()["operator"], response.json()["amount"]) == ("irancell", 70_000)
    assert books(seller_a) == (START_BALANCE - 70_000, 2, START_BALANCE - 70_000)


def test_a_batch_mixes_airtime_and_packages(client_a, seller_a, packages):
    items = [
        {"phone_number": MCI_PHONE, "amount": 5000},
        {"phone_number": IRANCELL_PHONE, "product": "irancell-2gb"},
        {"phone_number": MCI_PHONE, "product": "mci-10gb", "amount": 300_000},
    ]
    response = post(client_a, BATCHES, {"items": items}, key="pkg-batch")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["count"], body["total_amount"]) == (3, 375_000)
    assert [(r["amount"], r["product"]) for r in body["recharges"]] == [
        (5000, None),
        (70_000, "irancell-2gb"),
        (300_000, "mci-10gb"),
    ]
    assert [r["balance_after"] for r in body["recharges"]] == [
        START_BALANCE - 5000,
        START_BALANCE - 75_000,
        START_BALANCE - 375_000,
    ]
    assert books(seller_a) == (START_BALANCE - 375_000, 4, START_BALANCE - 375_000)


def test_a_batch_with_one_bad_package_is_400_whole(client_a, seller_a, packages):
    items = [
        {"phone_number": MCI_PHONE, "product": "mci-1gb"},
        {"phone_number": MCI_PHONE, "product": "irancell-2gb"},
        {"phone_number": MCI_PHONE, "product": "mci-1gb", "amount": 1},
        {"phone_number": MCI_PHONE},
    ]
    with nothing_written():
        response = post(client_a, BATCHES, {"items": items}, key="pkg-batch-bad")
    # The serializer's error comes first: the database judges packages only of a well-formed batch.
    assert_error(response, 400, "validation_error", {"items": {"3": {"amount": ["This field is required."]}}})
    with nothing_written():
        response = post(client_a, BATCHES, {"items": items[:3]}, key="pkg-batch-bad")
    assert_error(
        response,
        400,
        "validation_error",
        {
            "items": {
                "1": {
                    "product": [
                        'Product "irancell-2gb" is a package of operator "irancell", not of "mci", the operator of this sale.'
                    ]
                },
                "2": {"amount": ['Product "mci-1gb" costs 50000 rials; send that amount, or none.']},
            }
        },
    )


BAD_PRODUCTS = [
    (5, "A JSON string is required."),
    (5.5, "A JSON string is required."),
    (True, "A JSON string is required."),
    (["mci-1gb"], "A JSON string is required."),
    ({"code": "mci-1gb"}, "A JSON string is required."),
    ("", "This field may not be blank."),
    ("p" * 33, "Ensure this field has no more than 32 characters."),
]


@pytest.mark.parametrize(("product", "message"), BAD_PRODUCTS, ids=[repr(p)[:20] for p, _ in BAD_PRODUCTS])
def test_a_product_of_the_wrong_type_is_400(client_a, packages, product, message):
    with nothing_written():
        response = post(client_a, RECHARGES, {"phone_number": MCI_PHONE, "product": product}, key="bad-product")
    assert_error(response, 400, "validation_error", {"product": [message]})
    with nothing_written():
        response = post(client_a, BATCHES, {"items": [{"phone_number": MCI_PHONE, "product": product}]})
    assert_error(response, 400, "validation_error", {"items": {"0": {"product": [message]}}})


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"phone_number": MCI_PHONE}, {"amount": ["This field is required."]}),
        ({"phone_number": MCI_PHONE, "product": None}, {"amount": ["This field is required."]}),
        ({"product": "mci-1gb"}, {"phone_number": ["This field is required."]}),
        ({}, {"phone_number": ["This field is required."], "amount": ["This field is required."]}),
        (
            {"phone_number": "abc", "operator": 5},
            {
                "phone_number": ["Enter an Iranian mobile number, e.g. 09121234567."],
                "operator": ["A JSON string is required."],
                "amount": ["This field is required."],
            },
        ),
        (
            {"phone_number": MCI_PHONE, "product": "mci-1gb", "amount": None},
            {"amount": ["This field may not be null."]},
        ),
        (
            {"phone_number": MCI_PHONE, "product": "mci-1gb", "amount": 0},
            {"amount": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"phone_number": MCI_PHONE, "product": "mci\x00"},
            {"product": ["Null characters are not allowed."]},
        ),
    ],
    ids=[
        "no-amount-no-product",
        "null-product",
        "no-phone",
        "empty",
        "bad-phone-operator",
        "null-amount",
        "zero-amount",
        "nul",
    ],
)
def test_airtime_needs_an_amount_and_everything_needs_a_number(client_a, packages, body, details):
    for path in (RECHARGES, RECHARGES_BY_DRF):
        with nothing_written():
            assert_error(post(client_a, path, body, key="needs"), 400, "validation_error", details)


def test_airtime_outside_an_operator_s_denominations_is_400_with_the_list(client_a, seller_a, packages):
    set_denominations("mci", [10_000, 20_000, 50_000])
    message = 'Operator "mci" sells airtime only in these amounts (rials): 10000, 20000, 50000.'
    for path in (RECHARGES, RECHARGES_BY_DRF):
        with nothing_written():
            response = post(client_a, path, {"phone_number": MCI_PHONE, "amount": 15_000}, key="denomination")
        assert_error(response, 400, "validation_error", {"amount": [message]})
    with nothing_written():
        response = post(
            client_a,
            BATCHES,
            {"items": [{"phone_number": MCI_PHONE, "amount": 10_000}] * 2 + [{"phone_number": MCI_PHONE, "amount": 5}]},
        )
    assert_error(response, 400, "validation_error", {"items": {"2": {"amount": [message]}}})
    # A listed amount sells; another operator and a package are not held to MCI's list.
    assert post(client_a, RECHARGES, {"phone_number": MCI_PHONE, "amount": 20_000}).status_code == 201
    assert post(client_a, RECHARGES, {"phone_number": IRANCELL_PHONE, "amount": 15_000}).status_code == 201
    assert post(client_a, RECHARGES, {"phone_number": MCI_PHONE, "product": "mci-10gb"}).status_code == 201
    spent = 20_000 + 15_000 + 300_000
    assert books(seller_a) == (START_BALANCE - spent, 4, START_BALANCE - spent)


def test_products_are_listed_for_sellers_and_staff_with_the_permission(client_a, packages, staff_client):
    expected = [
        {
            "code": code,
            "operator": operator,
            "name": f"{code} package",
            "name_fa": f"بسته {code}",
            "amount": amount,
            "data_mb": 1024,
            "validity_days": 7,
            "enabled": enabled,
        }
        # By operator, then amount, then code; disabled packages too.
        for code, operator, amount, enabled in [
            ("irancell-2gb", "irancell", 70_000, True),
            ("mci-old", "mci", 20_000, False),
            ("mci-1gb", "mci", 50_000, True),
            ("mci-10gb", "mci", 300_000, True),
        ]
    ]
    for client in (client_a, staff_client):
        response = client.get(f"{API}/products/")
        assert response.status_code == 200
        assert json.loads(response.content) == expected
    assert_error(client_for(staff_holding("recharges.view_operator")).get(f"{API}/products/"), 403, "permission_denied")


def test_operators_show_their_denominations_and_persian_names(client_a):
    set_denominations("mci", [10_000, 20_000])
    Operator.objects.filter(code="mci").update(name_fa="همراه اول (MCI)")
    operators = {operator["code"]: operator for operator in client_a.get(f"{API}/operators/").json()}
    assert operators["mci"] == {
        "code": "mci",
        "name": "MCI (Hamrah-e Aval)",
        "name_fa": "همراه اول (MCI)",
        "enabled": True,
        "min_amount": 1,
        "max_amount": 10**15,
        "denominations": [10_000, 20_000],
    }
    assert (operators["irancell"]["denominations"], operators["irancell"]["name_fa"]) == (None, "ایرانسل")
