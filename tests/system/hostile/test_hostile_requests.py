"""Hostile requests found in review that once gave a 500, a non-contract code
or a different answer on the fast sale path; each states what the contract
asks for."""

import base64
import json

import pytest
from django.db import connection

from tests.helpers.api import API, PHONE, Raw, assert_error, nothing_written, post

SALE = {"phone_number": PHONE, "amount": 5000}
LISTS = ["recharges/", "transactions/", "credit-requests/"]


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


# --- 500s -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("position", ["abc", "1.5", "\x00"])
def test_tampered_cursor_is_a_400_not_a_500(client_a, sold, path, position):
    """config/api.py NewestFirstPagination.decode_cursor only turns NotFound
    into a 400; a cursor whose position is not an integer reaches the ORM."""
    response = client_a.get(f"{API}/{path}", {"cursor": _cursor(f"p={position}")})
    assert_error(response, 400, "validation_error")


@pytest.mark.django_db
def test_tampered_cursor_on_staff_seller_list_is_a_400(staff_client, seller_a):
    response = staff_client.get(f"{API}/sellers/", {"cursor": _cursor("p=abc")})
    assert_error(response, 400, "validation_error")


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["recharges/", "recharge-batches/", "credit-requests/"])
def test_deeply_nested_json_is_malformed_json_not_a_500(client_a, path):
    """RecursionError is not a ValueError: neither `_fast_sale` (recharges/api.py)
    nor DRF's JSONParser catch it."""
    with nothing_written():
        response = post(client_a, f"{API}/{path}", Raw(DEEP))
    assert_error(response, 400, "validation_error")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, body",
    [
        ("recharges/", '{"phone_number": "09121234567", "amount": 5000, "note": "\\ud800"}'),
        ("recharge-batches/", '{"items": [{"phone_number": "09121234567", "amount": 5000}], "note": "\\ud800"}'),
        ("credit-requests/", '{"amount": 5000, "note": "\\ud800"}'),
    ],
)
def test_lone_surrogate_in_an_ignored_field_with_a_key_is_not_a_500(client_a, path, body):
    """idempotency/services.py request_hash: json.dumps(ensure_ascii=False)
    then .encode() raises UnicodeEncodeError on a lone surrogate."""
    response = post(client_a, f"{API}/{path}", Raw(body), key="surrogate-1")
    assert response.status_code in (201, 400), response.content


@pytest.mark.django_db
def test_lone_surrogate_in_an_adjustment_with_a_key_is_not_a_500(staff_client, seller_a):
    body = '{"amount": 5, "reason": "fix", "note": "\\ud800"}'
    response = post(staff_client, f"{API}/sellers/{seller_a.pk}/adjustments/", Raw(body), key="surrogate-2")
    assert response.status_code in (201, 400), response.content


@pytest.mark.django_db
def test_nul_in_idempotency_key_filter_is_not_a_500(client_a, sold):
    """recharges selectors filter a text column with a NUL byte: psycopg refuses it."""
    response = client_a.get(f"{API}/recharges/", {"idempotency_key": "a\x00b"})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["results"] == []


# --- fast path vs DRF path --------------------------------------------------


@pytest.mark.django_db
def test_accept_header_gives_the_same_answer_on_both_sale_paths(client_a):
    """The fast path ignores Accept (201, money moves); the same valid sale
    through DRF (an ignored extra field sends it there) is 406 not_acceptable,
    a code the contract does not have. Every body is JSON anyway."""
    fast = client_a.post(
        f"{API}/recharges/", json.dumps(SALE), content_type="application/json", HTTP_ACCEPT="text/html"
    )
    drf = client_a.post(
        f"{API}/recharges/", json.dumps({**SALE, "note": "x"}), content_type="application/json", HTTP_ACCEPT="text/html"
    )
    assert fast.status_code == 201, fast.content
    assert drf.status_code == 201, drf.content


@pytest.mark.django_db
def test_accept_header_does_not_turn_a_validation_error_into_406(client_a):
    response = post_with_accept(client_a, {"phone_number": "0812", "amount": 5000}, "text/html")
    assert_error(response, 400, "validation_error")


def post_with_accept(client, body, accept):
    return client.post(f"{API}/recharges/", json.dumps(body), content_type="application/json", HTTP_ACCEPT=accept)


# --- limits -----------------------------------------------------------------


@pytest.mark.django_db
def test_phone_number_longer_than_its_documented_max_length_is_refused(client_a):
    """The schema says maxLength 32 (PHONE_MAX_LENGTH) but DRF runs CharField's
    max_length validator on the E.164 *output* of to_internal_value, so any
    length is accepted -- and each distinct padded string is kept in to_e164's
    lru_cache(100_000): unbounded memory per worker."""
    with nothing_written():
        response = post(client_a, f"{API}/recharges/", {"phone_number": "0912 123 4567" + " " * 10_000, "amount": 1})
    assert_error(response, 400, "validation_error")


@pytest.mark.django_db
def test_oversized_body_uses_a_contract_error_code(client_a):
    """RequestDataTooBig reaches Django's handler400: code "bad_request", not in the contract."""
    response = post(client_a, f"{API}/credit-requests/", {"amount": 5000, "pad": "x" * 3_000_000})
    assert response.status_code in (400, 413), response.content
    assert response.json()["error"]["code"] in ("validation_error", "payload_too_large")


@pytest.mark.django_db
def test_batch_item_errors_are_field_maps(client_a):
    """Contract: details {"items": {"<index>": {<field>: [messages]}}}; a null item gives a bare list."""
    response = post(client_a, f"{API}/recharge-batches/", {"items": [SALE, None]})
    error = assert_error(response, 400, "validation_error")
    assert isinstance(error["details"]["items"]["1"], dict), error


# --- throttling ---------------------------------------------------------------


@pytest.mark.django_db
def test_auth_failure_window_is_the_one_retry_after_announces(bad_token_client, settings):
    """A client that waits as Retry-After tells it is let in again: the
    counter's window ends no later than announced (it once did not: the
    database cache's incr() re-set the key with its default 300 s timeout)."""
    settings.AUTH_FAILURE_LIMIT = 2
    window = settings.AUTH_FAILURE_WINDOW_SECONDS
    for _ in range(3):
        response = bad_token_client.get(f"{API}/me/")
    assert_error(response, 429, "throttled")
    retry_after = int(response["Retry-After"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT window_ends - EXTRACT(EPOCH FROM now()) FROM config_authfailurewindow")
        (seconds_left,) = cursor.fetchone()
    assert seconds_left <= retry_after, f"locked out for {seconds_left:.0f} s, Retry-After says {retry_after}"
    assert retry_after <= window + 1


# --- non-JSON error bodies ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_method_not_allowed_on_schema_and_docs_is_the_json_error(client, path):
    """Contract: every body is JSON except the docs *page*; the 405 is YAML / HTML."""
    response = client.post(path)
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert response.json()["error"]["code"] == "method_not_allowed"
