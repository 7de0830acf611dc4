"""The database refuses bad endpoint and event rows, whatever Python does."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from callbacks.models import CallbackEndpoint, CallbackEvent
from config.errors import violated_constraint

GOOD_SECRET = "0123456789abcdef" * 4


@pytest.fixture
def seller(make_seller):
    return make_seller()


def refused(sql: str, params: list) -> str:
    with pytest.raises(IntegrityError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return violated_constraint(error.value)


ENDPOINT_SQL = f"INSERT INTO {CallbackEndpoint._meta.db_table} (seller_id, url, secret) VALUES (%s, %s, %s)"


@pytest.mark.parametrize("secret", ["", "0123456789ABCDEF" * 4, GOOD_SECRET[:-1], "g" * 64])
def test_a_secret_is_64_lowercase_hex(seller, secret):
    assert refused(ENDPOINT_SQL, [seller.pk, "https://shop.example/", secret]) == "callback_endpoint_secret_hex"


@pytest.mark.parametrize("url", ["ftp://shop.example/", "javascript:alert(1)", ""])
def test_a_url_is_http_or_https(seller, url):
    assert refused(ENDPOINT_SQL, [seller.pk, url, GOOD_SECRET]) == "callback_endpoint_url_http"


def test_one_endpoint_per_seller(seller):
    with connection.cursor() as cursor:
        cursor.execute(ENDPOINT_SQL, [seller.pk, "https://shop.example/", GOOD_SECRET])
    assert (
        refused(ENDPOINT_SQL, [seller.pk, "https://shop.example/2", GOOD_SECRET])
        == "callbacks_callbackendpoint_seller_id_key"
    )


EVENT_SQL = (
    f"INSERT INTO {CallbackEvent._meta.db_table} (id, seller_id, type, body, created_at, attempts, delivered_at, abandoned_at)"
    " VALUES (%s, %s, %s, '{}', now(), %s, %s, %s)"
)


@pytest.mark.parametrize(
    "type_, attempts, delivered, abandoned, constraint",
    [
        ("recharge.exploded", 0, False, False, "callback_event_type_known"),
        ("recharge.succeeded", -1, False, False, "callback_event_attempts_non_negative"),
        ("recharge.succeeded", 1, True, True, "callback_event_delivered_or_abandoned"),
        ("recharge.succeeded", 0, True, False, "callback_event_delivered_after_attempt"),
    ],
)
def test_event_rules(seller, type_, attempts, delivered, abandoned, constraint):
    when = "now()"
    sql = EVENT_SQL.replace("%s, %s)", f"{when if delivered else 'NULL'}, {when if abandoned else 'NULL'})")
    assert refused(sql, [uuid.uuid4(), seller.pk, type_, attempts]) == constraint
