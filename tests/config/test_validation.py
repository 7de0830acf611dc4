"""Bad input on every POST that takes a body: a 4xx with the right code and
details, and nothing written (balances, ledger, recharges, requests, keys)."""

from typing import Any

import pytest

from tests.helpers.api import API, PHONE, Raw, assert_error, nothing_written, post

INTEGER = "A JSON integer is required."
STRING = "A JSON string is required."
AT_LEAST_1 = "Ensure this value is greater than or equal to 1."
AT_MOST = "Ensure this value is less than or equal to 1000000000000000."
AT_LEAST_MINUS = "Ensure this value is greater than or equal to -1000000000000000."
REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
NOT_MOBILE = "Enter an Iranian mobile number, e.g. 09121234567."
BAD_KEY = "Use 1 to 255 visible ASCII characters."
NO_DATA = "No data provided"
NON_ZERO = "An adjustment may not be 0."
BAD_USERNAME = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."


def not_a_dict(kind: str) -> str:
    return f"Invalid data. Expected a dictionary, but got {kind}."


ITEM = {"phone_number": PHONE, "amount": 5000}
KEY = "table-key-1"  # a valid key on every seller POST: a refusal must not store it

# endpoint -> a valid body, so each case changes one thing
VALID = {
    "recharges": ITEM,
    "batches": {"items": [ITEM, ITEM]},
    "credit_requests": {"amount": 5000},
    "sellers": {"name": "Shop X", "username": "shopx"},
    "adjustments": {"amount": -5000, "reason": "chargeback 1234"},
}
SELLER_ENDPOINTS = ["recharges", "batches", "credit_requests"]
# endpoint -> the details for an empty object (an empty body parses as one)
MISSING = {
    "recharges": {"phone_number": [REQUIRED], "amount": [REQUIRED]},
    "batches": {"items": [REQUIRED]},
    "credit_requests": {"amount": [REQUIRED]},
    "sellers": {"name": [REQUIRED], "username": [REQUIRED]},
    "adjustments": {"amount": [REQUIRED], "reason": [REQUIRED]},
}

BAD_AMOUNTS = [
    (None, NULL),
    (5000.0, INTEGER),
    (5000.5, INTEGER),
    ("5000", INTEGER),
    (True, INTEGER),
    (False, INTEGER),
    ([5000], INTEGER),
    ({"value": 5000}, INTEGER),
    (10**15 + 1, AT_MOST),
    (2**64, AT_MOST),
    (10**30, AT_MOST),
]
BAD_POSITIVE_AMOUNTS = [*BAD_AMOUNTS, (0, AT_LEAST_1), (-5000, AT_LEAST_1), (-(2**64), AT_LEAST_1)]
BAD_ADJUSTMENTS = [*BAD_AMOUNTS, (0, NON_ZERO), (-(10**15) - 1, AT_LEAST_MINUS), (-(2**64), AT_LEAST_MINUS)]

BAD_PHONES = [
    ("02112345678", NOT_MOBILE),  # a Tehran landline
    ("abc", NOT_MOBILE),
    ("+1 202 555 0100", NOT_MOBILE),
    ("0912123456", NOT_MOBILE),  # one digit short
    ("091212345678", NOT_MOBILE),  # one digit long
    ("9" * 256, "Ensure this field has no more than 32 characters."),
    ("0912 123 4567" + " " * 100, "Ensure this field has no more than 32 characters."),
    ("", BLANK),
    (None, NULL),
    (9121234567, "Not a valid string."),
    (["09121234567"], "Not a valid string."),
]

BAD_KEYS = ["k" * 256, "کلید", "ключ", "key with spaces", "tab\tkey", ""]


def case(endpoint, body, status, code, details=None, key=KEY, id=None):
    return pytest.param(endpoint, body, key, status, code, details, id=id)


def amount_in(endpoint: str, amount) -> dict:
    if endpoint == "batches":
        return {"items": [ITEM, {**ITEM, "amount": amount}]}
    valid: Any = VALID[endpoint]
    return {**valid, "amount": amount}


def amount_error(endpoint: str, message: str) -> dict:
    if endpoint == "batches":
        return {"items": {"1": {"amount": [message]}}}
    return {"amount": [message]}


CASES = [
    # Bodies that are not a JSON object, for every endpoint.
    *[
        case(endpoint, body, status, code, details, id=f"{endpoint}-{name}")
        for endpoint in VALID
        for name, body, status, code, details in [
            ("malformed-json", Raw('{"amount": 5000'), 400, "validation_error", None),
            ("trailing-garbage", Raw('{"amount": 5000} x'), 400, "validation_error", None),
            ("nan", Raw('{"amount": NaN}'), 400, "validation_error", None),
            ("empty-object", {}, 400, "validation_error", MISSING[endpoint]),
            ("empty-body", Raw(""), 400, "validation_error", MISSING[endpoint]),
            ("text-plain", Raw('{"amount": 5000}', "text/plain"), 400, "validation_error", None),
            ("form", Raw("amount=5000", "application/x-www-form-urlencoded"), 400, "validation_error", None),
            ("no-content-type", Raw('{"amount": 5000}', ""), 400, "validation_error", None),
            ("list", [VALID[endpoint]], 400, "validation_error", {"non_field_errors": [not_a_dict("list")]}),
            ("string", "5000", 400, "validation_error", {"non_field_errors": [not_a_dict("str")]}),
            ("number", 5000, 400, "validation_error", {"non_field_errors": [not_a_dict("int")]}),
            ("null", None, 400, "validation_error", {"non_field_errors": [NO_DATA]}),
        ]
    ],
    # Missing fields.
    case("recharges", {"amount": 5000}, 400, "validation_error", {"phone_number": [REQUIRED]}),
    case("recharges", {"phone_number": PHONE}, 400, "validation_error", {"amount": [REQUIRED]}),
    case("batches", ITEM, 400, "validation_error", {"items": [REQUIRED]}, id="batches-a-single-item-not-wrapped"),
    case("sellers", {"name": "Shop X"}, 400, "validation_error", {"username": [REQUIRED]}),
    case("adjustments", {"amount": 5000}, 400, "validation_error", {"reason": [REQUIRED]}),
    # Amounts.
    *[
        case(
            endpoint,
            amount_in(endpoint, amount),
            400,
            "validation_error",
            amount_error(endpoint, message),
            id=f"{endpoint}-amount-{amount!r}"[:60],
        )
        for endpoint in SELLER_ENDPOINTS
        for amount, message in BAD_POSITIVE_AMOUNTS
    ],
    *[
        case(
            "adjustments",
            amount_in("adjustments", amount),
            400,
            "validation_error",
            {"amount": [message]},
            id=f"adjustments-amount-{amount!r}"[:60],
        )
        for amount, message in BAD_ADJUSTMENTS
    ],
    # Amounts written as numbers JSON allows but Python's json.dumps would not produce.
    *[
        case(
            "recharges",
            Raw(f'{{"phone_number": "{PHONE}", "amount": {text}}}'),
            400,
            "validation_error",
            {"amount": [INTEGER]},
            id=f"recharges-amount-{text}",
        )
        for text in ["5e3", "5000.00", "1e400", "-0.0"]
    ],
    # Phone numbers.
    *[
        case(
            "recharges",
            {**ITEM, "phone_number": phone},
            400,
            "validation_error",
            {"phone_number": [message]},
            id=f"recharges-phone-{phone!r}"[:60],
        )
        for phone, message in BAD_PHONES
    ],
    *[
        case(
            "batches",
            {"items": [ITEM, {**ITEM, "phone_number": phone}]},
            400,
            "validation_error",
            {"items": {"1": {"phone_number": [message]}}},
            id=f"batches-phone-{phone!r}"[:60],
        )
        for phone, message in BAD_PHONES
    ],
    # Batches: size and item shape; every bad item is reported under its index.
    case(
        "batches",
        {"items": []},
        400,
        "validation_error",
        {"items": ["Ensure this field has at least 1 elements."]},
        id="batches-0-items",
    ),
    case(
        "batches",
        {"items": [ITEM] * 1001},
        400,
        "validation_error",
        {"items": ["Ensure this field has no more than 1000 elements."]},
        id="batches-1001-items",
    ),
    case("batches", {"items": None}, 400, "validation_error", {"items": [NULL]}),
    case(
        "batches",
        {"items": ITEM},
        400,
        "validation_error",
        {"items": ['Expected a list of items but got type "dict".']},
        id="batches-items-an-object",
    ),
    case(
        "batches",
        {"items": "x"},
        400,
        "validation_error",
        {"items": ['Expected a list of items but got type "str".']},
        id="batches-items-a-string",
    ),
    case(
        "batches",
        {"items": [ITEM, 5, {}, ITEM, {"phone_number": "abc", "amount": 0}]},
        400,
        "validation_error",
        {
            "items": {
                "1": {"non_field_errors": [not_a_dict("int")]},
                "2": {"phone_number": [REQUIRED], "amount": [REQUIRED]},
                "4": {"phone_number": [NOT_MOBILE], "amount": [AT_LEAST_1]},
            }
        },
        id="batches-several-bad-items",
    ),
    case(
        "batches",
        {"items": [ITEM] * 999 + [{**ITEM, "amount": "5000"}]},
        400,
        "validation_error",
        {"items": {"999": {"amount": [INTEGER]}}},
        id="batches-last-of-1000-bad",
    ),
    # Idempotency-Key header.
    *[
        case(
            endpoint,
            VALID[endpoint],
            400,
            "validation_error",
            {"Idempotency-Key": [BAD_KEY]},
            key=key,
            id=f"{endpoint}-key-{key[:12]!r}",
        )
        for endpoint in SELLER_ENDPOINTS
        for key in BAD_KEYS
    ],
    # Sellers.
    case("sellers", {"name": None, "username": "shopx"}, 400, "validation_error", {"name": [NULL]}),
    case("sellers", {"name": "", "username": "shopx"}, 400, "validation_error", {"name": [BLANK]}),
    case("sellers", {"name": 5, "username": "shopx"}, 400, "validation_error", {"name": [STRING]}),
    case("sellers", {"name": "Shop X", "username": 123}, 400, "validation_error", {"username": [STRING]}),
    case(
        "sellers",
        {"name": "x" * 201, "username": "shopx"},
        400,
        "validation_error",
        {"name": ["Ensure this field has no more than 200 characters."]},
        id="sellers-name-201-chars",
    ),
    case(
        "sellers",
        {"name": "Shop X", "username": "u" * 151},
        400,
        "validation_error",
        {"username": ["Ensure this field has no more than 150 characters."]},
        id="sellers-username-151-chars",
    ),
    *[
        case(
            "sellers",
            {"name": "Shop X", "username": username},
            400,
            "validation_error",
            {"username": [BAD_USERNAME]},
            id=f"sellers-username-{username!r}",
        )
        for username in ["shop x", "shop!", "shop/1"]
    ],
    # Adjustments.
    case("adjustments", {"amount": 5000, "reason": ""}, 400, "validation_error", {"reason": [BLANK]}),
    case("adjustments", {"amount": 5000, "reason": None}, 400, "validation_error", {"reason": [NULL]}),
    case("adjustments", {"amount": 5000, "reason": 1234}, 400, "validation_error", {"reason": [STRING]}),
    case(
        "adjustments",
        {"amount": 5000, "reason": "r" * 256},
        400,
        "validation_error",
        {"reason": ["Ensure this field has no more than 255 characters."]},
        id="adjustments-reason-256-chars",
    ),
]


@pytest.fixture
def endpoints(seller_a, client_a, staff_client):
    """endpoint -> (client, path) of each POST under test."""
    return {
        "recharges": (client_a, f"{API}/recharges/"),
        "batches": (client_a, f"{API}/recharge-batches/"),
        "credit_requests": (client_a, f"{API}/credit-requests/"),
        "sellers": (staff_client, f"{API}/sellers/"),
        "adjustments": (staff_client, f"{API}/sellers/{seller_a.pk}/adjustments/"),
    }


@pytest.mark.parametrize("endpoint, body, key, status, code, details", CASES)
def test_bad_input_is_refused_and_writes_nothing(endpoints, endpoint, body, key, status, code, details):
    client, path = endpoints[endpoint]
    with nothing_written():
        assert_error(post(client, path, body, key=key), status, code, details)


@pytest.mark.parametrize("endpoint", list(VALID))
def test_the_valid_body_of_the_table_is_accepted(endpoints, endpoint):
    """The table's base bodies are valid, so each case fails for its one change."""
    client, path = endpoints[endpoint]
    assert post(client, path, VALID[endpoint], key=KEY if endpoint in SELLER_ENDPOINTS else None).status_code == 201


def test_taken_username_is_refused(endpoints, seller_a):
    client, path = endpoints["sellers"]
    with nothing_written():
        assert_error(
            post(client, path, {"name": "Copy", "username": seller_a.user.username}),
            400,
            "validation_error",
            {"username": ["A user with this username already exists."]},
        )
