"""Signed callbacks, the sending: claim due events, POST them outside any
transaction, record the outcomes.

- A `Sender` is the loop of config/dispatch.py, which the recharges'
  delivery shares, with up to `max_in_flight` POSTs in flight, each in its
  own thread. It claims due events only for free threads, in one short statement
  (`FOR UPDATE SKIP LOCKED`, which also counts the attempt and moves the
  event's due time a lease ahead), and writes outcomes as they come, those
  that finished together in one statement.
- Each attempt has one deadline, CALLBACK_TIMEOUT_SECONDS, for connecting,
  sending and the answer's status line and headers together
  (callbacks/deadlines.py): a receiver that trickles its answer is cut there,
  and the attempt has failed.
- A slow or unreachable receiver delays only its own seller: claims go
  round-robin across sellers, one seller has at most PER_SELLER_IN_FLIGHT
  attempts in flight, and while slow attempts hang the loop goes on claiming
  for the free threads. Attempts outlive the `run` that started them, so a
  worker's job hands over to the next without waiting for them.
- Callers may run concurrently in any number of threads and processes: SKIP
  LOCKED hands each due event to one of them, and a caller that dies mid-way
  leaves its events due again when their lease ends (delivery is at least
  once; receivers deduplicate by id).
- A failed attempt is retried after 5 s, then with exponential backoff capped
  at an hour, until CALLBACK_RETRY_HORIZON_SECONDS after the event was made;
  the last attempt is at the horizon, and an event whose attempt fails after
  it is abandoned (the row stays, for the admin).
"""

import random
import time
import uuid
from collections import Counter
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpcore
import httpx
import structlog
from django.conf import settings
from django.db import connection

from callbacks.deadlines import deadline, pool
from callbacks.models import CallbackEndpoint, CallbackEvent
from callbacks.services import NO_URL_ERROR
from callbacks.signatures import SIGNATURE_HEADER, signature_header
from callbacks.targets import UnsafeTarget, resolve_target
from config.dispatch import Dispatcher
from config.metrics import CALLBACKS

FIRST_RETRY_SECONDS = 5
MAX_RETRY_DELAY_SECONDS = 3600
CLAIM_INTERVAL_SECONDS = 0.5
CLAIM_WINDOW_PER_EVENT = 8
# A seller's attempts in flight in one sender: its own events go out in
# parallel, and however slow its receiver, it holds no more threads than this.
PER_SELLER_IN_FLIGHT = 4

_EVENTS = CallbackEvent._meta.db_table
_ENDPOINTS = CallbackEndpoint._meta.db_table
batch_log = structlog.get_logger("callbacks")


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    seller_id: int
    attempts: int
    body: str
    url: str | None
    secret: str | None


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    error: str = ""
    final: bool = False  # no retry whatever the horizon


# The earliest due events of sellers with room left in this caller (a bounded
# window, so a large backlog costs no more), taken round-robin across sellers
# (each seller's first, then each one's second, counting what this caller
# already has in flight for it), at most `room` in flight per seller.
_CLAIM_SQL = f"""
    WITH in_flight (seller_id, count) AS (
        SELECT * FROM unnest(%(busy_sellers)s::bigint[], %(busy_counts)s::int[])
    ), earliest AS (
        SELECT id, seller_id, next_attempt_at
          FROM {_EVENTS}
         WHERE delivered_at IS NULL AND abandoned_at IS NULL AND next_attempt_at <= now()
           AND seller_id <> ALL(%(full_sellers)s::bigint[])
         ORDER BY next_attempt_at
         LIMIT %(window)s
    ), ranked AS (
        SELECT earliest.id, earliest.next_attempt_at,
               row_number() OVER (PARTITION BY earliest.seller_id ORDER BY earliest.next_attempt_at)
                   + coalesce(in_flight.count, 0) AS place
          FROM earliest LEFT JOIN in_flight USING (seller_id)
    ), due AS (
        SELECT event.id, event.seller_id
          FROM ranked JOIN {_EVENTS} event USING (id)
         WHERE ranked.place <= %(room)s
           AND event.delivered_at IS NULL AND event.abandoned_at IS NULL AND event.next_attempt_at <= now()
         ORDER BY ranked.place, ranked.next_attempt_at
         LIMIT %(limit)s
           FOR UPDATE OF event SKIP LOCKED
    )
    UPDATE {_EVENTS} event
       SET attempts = event.attempts + 1,
           next_attempt_at = now() + make_interval(secs => %(lease)s)
      FROM due LEFT JOIN {_ENDPOINTS} endpoint ON endpoint.seller_id = due.seller_id
     WHERE event.id = due.id
    RETURNING event.id, event.seller_id, event.attempts, event.body, endpoint.url, endpoint.secret
"""  # noqa: S608 - table names come from the models; values are parameters

# A success is always recorded; a failure only by the attempt that still owns
# the event (a later claim after an expired lease has counted another attempt).
_OUTCOMES_SQL = f"""
    UPDATE {_EVENTS} event
       SET delivered_at = CASE WHEN outcome.delivered THEN now() END,
           abandoned_at = CASE
               WHEN NOT outcome.delivered
                    AND (outcome.final OR now() >= event.created_at + make_interval(secs => %(horizon)s))
               THEN now() END,
           next_attempt_at = CASE WHEN outcome.delivered THEN event.next_attempt_at
               ELSE least(now() + make_interval(secs => outcome.delay),
                          event.created_at + make_interval(secs => %(horizon)s)) END,
           last_error = CASE WHEN outcome.delivered THEN event.last_error ELSE outcome.error END
      FROM unnest(%(ids)s::uuid[], %(attempts)s::int[], %(delivered)s::bool[], %(final)s::bool[],
                  %(errors)s::text[], %(delays)s::float8[])
           AS outcome (id, attempts, delivered, final, error, delay)
     WHERE event.id = outcome.id AND event.delivered_at IS NULL AND event.abandoned_at IS NULL
       AND (outcome.delivered OR event.attempts = outcome.attempts)
"""  # noqa: S608 - table names come from the models; values are parameters


class Sender(Dispatcher[_Claimed, _Outcome]):
    """The shared loop (config/dispatch.py) over due events: claim them
    round-robin across sellers, POST them, record how the attempts ended.
    Attempts outlive a `run`: the next run (or `finish`) records them, so a
    caller that runs in slices (a job, then the next) never stops claiming to
    wait for a slow receiver first. One caller at a time."""

    def __init__(self, *, max_in_flight: int, per_seller: int = PER_SELLER_IN_FLIGHT):
        # Threads start as attempts need them, up to max_in_flight, and wait idle after.
        self._threads = ThreadPoolExecutor(max_in_flight, thread_name_prefix="callback")
        # Claims wait for a few free threads (one statement for several events).
        batch = max(1, min(max_in_flight // 4, 4))
        super().__init__(
            self._threads, max_in_flight=max_in_flight, claim_batch=batch, poll_seconds=CLAIM_INTERVAL_SECONDS
        )
        self._per_seller = per_seller

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc) -> None:
        self.finish()
        self._threads.shutdown()

    def run(self, *, until: float | None = None, limit: int | None = None) -> int:
        if connection.in_atomic_block:
            raise RuntimeError("Callbacks are sent outside any transaction: they make HTTP calls.")
        return super().run(until=until, limit=limit)

    def bookkeeping(self) -> AbstractContextManager[object]:
        return _bookkeeping_without_disk_waits()

    def claim(self, free: int, in_flight: Collection[_Claimed]) -> list[_Claimed]:
        return _claim(free, self._per_seller, Counter(event.seller_id for event in in_flight))

    def call(self, item: _Claimed) -> _Outcome:
        return _attempt(item)

    def record(self, ended: list[tuple[_Claimed, _Outcome]]) -> None:
        _record_outcomes(ended)


def deliver_due_events(*, limit: int = 100, max_workers: int = 16, per_seller: int = PER_SELLER_IN_FLIGHT) -> int:
    """Delivers due events until none is due and none is in flight, making at
    most `limit` attempts, up to `max_workers` at once and `per_seller` for
    one seller; returns how many it made."""
    with Sender(max_in_flight=max_workers, per_seller=per_seller) as sender:
        return sender.run(limit=limit)


@contextmanager
def _bookkeeping_without_disk_waits():
    """Claims and outcomes commit without waiting for the disk (a flush costs
    more than the statement). A crash may lose their last milliseconds: those
    events are then sent again, which at-least-once delivery allows, and no
    money is involved. Only this session's own statements run meanwhile.
    Not through a transaction pool (DB_TRANSACTION_POOLING): the session SET
    would stay on a server connection other clients then commit on."""
    if settings.DB_TRANSACTION_POOLING:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _claim(limit: int, room: int, busy: Counter[int]) -> list[_Claimed]:
    """Leases up to `limit` due events, at most `room` in flight per seller
    counting `busy`, this sender's attempts in flight per seller."""
    params = {
        "limit": limit,
        "room": room,
        "window": CLAIM_WINDOW_PER_EVENT * limit,
        "busy_sellers": list(busy),
        "busy_counts": list(busy.values()),
        "full_sellers": [seller_id for seller_id, count in busy.items() if count >= room],
        # Each claimed event starts at once and its attempt ends by its
        # deadline; the margin is for DNS and for recording the outcome.
        "lease": settings.CALLBACK_TIMEOUT_SECONDS + 30,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        return [_Claimed(*row) for row in cursor.fetchall()]


def seconds_until_next_due() -> float | None:
    """Seconds until the earliest pending event is due (0 if one is due now); None if none is pending."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM {_EVENTS}"  # noqa: S608 - a model's table
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


def _attempt(event: _Claimed) -> _Outcome:
    if event.url is None or event.secret is None:  # the seller removed the URL
        return _Outcome(delivered=False, error=NO_URL_ERROR, final=True)
    timeout = settings.CALLBACK_TIMEOUT_SECONDS
    try:
        with deadline(timeout):
            status = _post(event.url, event.secret, event.body.encode("utf-8"))
        if 200 <= status < 300:
            return _Outcome(delivered=True)
        error = f"HTTP {status}"
    except UnsafeTarget as refused:
        error = str(refused)
    except httpcore.TimeoutException:
        error = f"No answer within {timeout:g} s."
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as failure:
        error = f"{type(failure).__name__}: {failure}"
    return _Outcome(delivered=False, error=error[:1000])


def _post(url: str, secret: str, body: bytes) -> int:
    """The status of a signed POST of `body` to `url`. The answer's body is
    never read: only the status counts, and a receiver cannot hold the thread
    by sending a long one."""
    target = resolve_target(url)
    signature = signature_header(secret=secret, timestamp=int(time.time()), body=body)
    parsed = httpx.URL(target.url)  # the parser that checked it (callbacks/targets.py)
    headers = {
        "Host": parsed.netloc.decode("ascii"),
        **target.headers,
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature,
    }
    request_url = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path)
    with pool().stream("POST", request_url, headers=headers, content=body, extensions=target.extensions) as response:
        return response.status


def _record_outcomes(outcomes: list[tuple[_Claimed, _Outcome]]) -> None:
    params = {
        "ids": [event.id for event, _ in outcomes],
        "attempts": [event.attempts for event, _ in outcomes],
        "delivered": [outcome.delivered for _, outcome in outcomes],
        "final": [outcome.final for _, outcome in outcomes],
        "errors": [outcome.error for _, outcome in outcomes],
        "delays": [retry_delay(event.attempts) for event, _ in outcomes],
        "horizon": settings.CALLBACK_RETRY_HORIZON_SECONDS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_OUTCOMES_SQL, params)
    failed = []
    for event, outcome in outcomes:
        CALLBACKS.labels("delivered" if outcome.delivered else "abandoned" if outcome.final else "failed").inc()
        if not outcome.delivered:
            failed.append(str(event.id))
    # Event ids only (the error is in the event row, for staff): an error
    # message may quote the URL, which may carry the receiver's token.
    batch_log.info("callback_batch", delivered=len(outcomes) - len(failed), failed=failed)
