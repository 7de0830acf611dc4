"""Signed callbacks: a seller's URL and secret, and the events POSTed to it.

- `record_event` runs inside the transaction that makes a recharge final, so
  an event exists exactly when its money change committed. It renders the body
  once; every attempt sends those bytes.
- `deliver_due_events` claims due events in one short statement
  (`FOR UPDATE SKIP LOCKED`, which also moves each claimed event's due time a
  lease ahead and counts the attempt), commits, then POSTs them concurrently
  outside any transaction, and records each outcome as soon as it is known, so
  a slow receiver delays only its own events. Callers may run it concurrently
  in any number of threads and processes: SKIP LOCKED hands each due event to
  one of them, and a caller that dies mid-way leaves its events due again when
  their lease ends (delivery is at least once; receivers deduplicate by id).
- A failed attempt is retried after 5 s, then with exponential backoff capped
  at an hour, until CALLBACK_RETRY_HORIZON_SECONDS after the event was made;
  the last attempt is at the horizon, and an event whose attempt fails after it
  is abandoned (the row stays, for the admin).
"""

import math
import random
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import httpx
import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.fields import DateTimeField
from rest_framework.renderers import JSONRenderer

from callbacks.models import CallbackEndpoint, CallbackEvent, EventType
from callbacks.signatures import SIGNATURE_HEADER, signature_header
from callbacks.targets import UnsafeTarget, check_url, resolve_target
from config.errors import InvalidInput
from config.metrics import CALLBACKS

NOTIFY_CHANNEL = "callbacks_due"
FIRST_RETRY_SECONDS = 5
MAX_RETRY_DELAY_SECONDS = 3600
NO_URL_ERROR = "The seller has no callback URL any more."

_EVENTS = CallbackEvent._meta.db_table
_ENDPOINTS = CallbackEndpoint._meta.db_table
batch_log = structlog.get_logger("callbacks")


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
        SELECT %(id)s, endpoint.seller_id, %(type)s, %(body)s, %(created_at)s
          FROM {_ENDPOINTS} endpoint
         WHERE endpoint.seller_id = %(seller_id)s
        RETURNING 1
    )
    SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM event
"""


def record_event(*, seller_id: int, event_type: str, data: dict) -> None:
    """Records an event for the seller's callback URL; nothing when it has none.

    Call it inside the transaction that makes the change the event reports:
    the event (and the NOTIFY that wakes a worker) commits with it or not at
    all. One statement, whether or not the seller has a URL.
    """
    event_id = uuid.uuid4()
    created_at = timezone.now()
    event = {
        "id": str(event_id),
        "type": EventType(event_type).value,
        "created_at": DateTimeField().to_representation(created_at),
        "data": data,
    }
    body = JSONRenderer().render(event).decode("utf-8")
    params = {"id": event_id, "type": event_type, "body": body, "created_at": created_at, "seller_id": seller_id}
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    attempts: int
    body: str
    url: str | None
    secret: str | None


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    error: str = ""
    final: bool = False  # no retry whatever the horizon


_CLAIM_SQL = f"""
    WITH due AS (
        SELECT id, seller_id
          FROM {_EVENTS}
         WHERE delivered_at IS NULL AND abandoned_at IS NULL AND next_attempt_at <= now()
         ORDER BY next_attempt_at
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED
    )
    UPDATE {_EVENTS} event
       SET attempts = event.attempts + 1,
           next_attempt_at = now() + make_interval(secs => %(lease)s)
      FROM due LEFT JOIN {_ENDPOINTS} endpoint ON endpoint.seller_id = due.seller_id
     WHERE event.id = due.id
    RETURNING event.id, event.attempts, event.body, endpoint.url, endpoint.secret
"""

# A success is always recorded; a failure only by the attempt that still owns
# the event (a later claim after an expired lease has counted another attempt).
_OUTCOME_SQL = f"""
    UPDATE {_EVENTS}
       SET delivered_at = CASE WHEN %(delivered)s THEN now() END,
           abandoned_at = CASE
               WHEN NOT %(delivered)s AND (%(final)s OR now() >= created_at + make_interval(secs => %(horizon)s))
               THEN now() END,
           next_attempt_at = CASE WHEN %(delivered)s THEN next_attempt_at
               ELSE least(now() + make_interval(secs => %(delay)s), created_at + make_interval(secs => %(horizon)s)) END,
           last_error = CASE WHEN %(delivered)s THEN last_error ELSE %(error)s END
     WHERE id = %(id)s AND delivered_at IS NULL AND abandoned_at IS NULL
       AND (%(delivered)s OR attempts = %(attempts)s)
"""


def deliver_due_events(*, limit: int = 100, max_workers: int = 16) -> int:
    """Makes one attempt for each of up to `limit` due events; returns how many."""
    if connection.in_atomic_block:
        raise RuntimeError("deliver_due_events must run outside a transaction: it makes HTTP calls.")
    timeout = settings.CALLBACK_TIMEOUT_SECONDS
    # Long enough for the last claimed event to wait for a thread and have its
    # attempt (connect, send, answer: each bounded by the timeout) recorded.
    lease = (math.ceil(limit / max_workers) + 1) * 3 * timeout + 30
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {"limit": limit, "lease": lease})
        claimed = [_Claimed(*row) for row in cursor.fetchall()]
    if not claimed:
        return 0
    # trust_env=False: no proxy from the environment may bypass the pinned address.
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
        ThreadPoolExecutor(max_workers=min(max_workers, len(claimed))) as pool,
    ):
        futures = {pool.submit(_attempt, client, event): event for event in claimed}
        failed = []
        for future in as_completed(futures):
            event, outcome = futures[future], future.result()
            _record_outcome(event, outcome)
            if not outcome.delivered:
                failed.append(str(event.id))
    # Event ids only (the error is in the event row, for staff): an error
    # message may quote the URL, which may carry the receiver's token.
    batch_log.info("callback_batch", delivered=len(claimed) - len(failed), failed=failed)
    return len(claimed)


def seconds_until_next_due() -> float | None:
    """Seconds until the earliest pending event is due (0 if one is due now); None if none is pending."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM {_EVENTS}"
            " WHERE delivered_at IS NULL AND abandoned_at IS NULL"
        )
        (seconds,) = cursor.fetchone()
    return None if seconds is None else max(0.0, seconds)


def retry_delay(attempts: int) -> float:
    """Seconds from the `attempts`-th failed attempt to the next: 5, 10, 20, …
    capped at an hour, each shortened by up to a fifth at random so that the
    retries for a receiver that was down do not all arrive at once."""
    delay = min(FIRST_RETRY_SECONDS * 2 ** min(attempts - 1, 30), MAX_RETRY_DELAY_SECONDS)
    return delay * (1 - random.random() / 5)


def _attempt(client: httpx.Client, event: _Claimed) -> _Outcome:
    if event.url is None:
        return _Outcome(delivered=False, error=NO_URL_ERROR, final=True)
    body = event.body.encode("utf-8")
    try:
        target = resolve_target(event.url)
        signature = signature_header(secret=event.secret, timestamp=int(time.time()), body=body)
        headers = {**target.headers, "Content-Type": "application/json", SIGNATURE_HEADER: signature}
        # Streamed and never read: only the status counts, and a receiver
        # cannot hold the thread by sending a long body.
        with client.stream("POST", target.url, content=body, headers=headers, extensions=target.extensions) as response:
            if response.is_success:
                return _Outcome(delivered=True)
            error = f"HTTP {response.status_code}"
    except UnsafeTarget as refused:
        error = str(refused)
    except httpx.TimeoutException:
        error = f"No answer within {settings.CALLBACK_TIMEOUT_SECONDS:g} s."
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"
    return _Outcome(delivered=False, error=error[:1000])


def _record_outcome(event: _Claimed, outcome: _Outcome) -> None:
    params = {
        "id": event.id,
        "attempts": event.attempts,
        "delivered": outcome.delivered,
        "final": outcome.final,
        "error": outcome.error,
        "delay": retry_delay(event.attempts),
        "horizon": settings.CALLBACK_RETRY_HORIZON_SECONDS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_OUTCOME_SQL, params)
    CALLBACKS.labels("delivered" if outcome.delivered else "abandoned" if outcome.final else "failed").inc()
