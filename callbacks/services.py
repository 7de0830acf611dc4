"""Signed callbacks, the writes: a seller's URL and secret, and the events
that report a recharge's final status.

`record_event` and `record_events` run inside the transaction that makes a
recharge final, so an event exists exactly when its money change committed.
They render the body once; every attempt sends those bytes. Sending is
callbacks/sender.py; which URLs may be called, callbacks/targets.py.
"""

import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from callbacks.models import CallbackEndpoint, CallbackEvent, EventType
from callbacks.targets import UnsafeTarget, check_url
from config.errors import InvalidInput

NO_URL_ERROR = "The seller has no callback URL any more."

_EVENTS = CallbackEvent._meta.db_table
_ENDPOINTS = CallbackEndpoint._meta.db_table


def set_callback_url(*, seller_id: int, url: str) -> tuple[str, str]:
    """Sets (or replaces) the seller's callback URL with a new secret; returns both."""
    try:
        url = check_url(url)
    except UnsafeTarget as error:
        raise InvalidInput(details={"url": [str(error)]}) from None
    secret = secrets.token_hex(32)
    # One statement: a concurrent PUT for the same seller updates instead of failing.
    CallbackEndpoint.objects.bulk_create(
        [CallbackEndpoint(seller_id=seller_id, url=url, secret=secret)],
        update_conflicts=True,
        unique_fields=["seller"],
        update_fields=["url", "secret", "updated_at"],
    )
    return url, secret


@transaction.atomic
def delete_callback(*, seller_id: int) -> None:
    """Removes the seller's callback URL, if any, and abandons its undelivered events."""
    CallbackEndpoint.objects.filter(seller_id=seller_id).delete()
    CallbackEvent.objects.filter(seller_id=seller_id, delivered_at=None, abandoned_at=None).update(
        abandoned_at=timezone.now(), last_error=NO_URL_ERROR
    )


_RECORD_SQL = f"""
    WITH event AS (
        INSERT INTO {_EVENTS} (id, seller_id, type, body, created_at)
        SELECT e.id, endpoint.seller_id, %(type)s, e.body, %(created_at)s
          FROM unnest(%(ids)s::uuid[], %(seller_ids)s::bigint[], %(bodies)s::text[]) AS e(id, seller_id, body)
          JOIN {_ENDPOINTS} endpoint ON endpoint.seller_id = e.seller_id
        RETURNING 1
    )
    SELECT queue_job_unless_waiting('deliver_callbacks', 'callbacks') FROM (SELECT FROM event LIMIT 1) AS any_event
"""  # noqa: S608 - table names come from the models; values are parameters


def record_event(*, seller_id: int, event_type: str, data: dict) -> None:
    """Records an event for the seller's callback URL; nothing when it has none."""
    record_events(event_type=event_type, events=[(seller_id, data)])


def record_events(*, event_type: str, events: Sequence[tuple[int, dict]]) -> None:
    """Records one event of `event_type` per (seller id, data) for the sellers
    with a callback URL; nothing for the others.

    Call it inside the transaction that makes the change the events report:
    they (and the job that wakes a worker: callbacks/tasks.py) commit with it
    or not at all. One statement, however many events.
    """
    created_at = timezone.now()
    # The API's own time format (REST_FRAMEWORK's DATETIME_FORMAT: UTC, "Z").
    created = created_at.astimezone(UTC).strftime(settings.REST_FRAMEWORK["DATETIME_FORMAT"])
    ids = [uuid.uuid4() for _ in events]
    bodies = [
        # Compact UTF-8 JSON, as the API's renderer writes it.
        json.dumps(
            {"id": str(event_id), "type": EventType(event_type).value, "created_at": created, "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for event_id, (_, data) in zip(ids, events, strict=True)
    ]
    params: dict[str, Any] = {
        "ids": ids,
        "seller_ids": [seller_id for seller_id, _ in events],
        "bodies": bodies,
        "type": event_type,
        "created_at": created_at,
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
