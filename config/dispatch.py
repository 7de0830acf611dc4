"""The loop of background work that calls out: claim what is due, call out
of any transaction, record how the calls ended.

Delivering recharges to their operators (recharges/delivery.py) and sending
sellers' callbacks (callbacks/sender.py) are this one loop; each supplies only
what is its own: how to claim (a statement that leases due rows with `FOR
UPDATE SKIP LOCKED` and commits), how to call (the operator, a signed POST)
and how to record outcomes (a statement or a few for many rows). Written once,
so that these rules hold for both and a fix to one is a fix to both:

- Calls run in the executor's threads with no transaction open and no row
  locked: a claim commits before its calls start, outcomes commit after.
- Claims wait for a quarter or so of the slots to be free (`claim_batch`:
  fewer, larger claims), except when nothing is in flight or nothing ended
  within `poll_seconds`: then items that fell due while every call in flight
  is slow go out at once, in the free slots.
- Outcomes are recorded as calls end; those that end within a moment of each
  other are one batch (fewer, larger writes).
- Calls outlive a `run`: it returns at `until` (or after `limit` calls)
  without waiting for them, and the next `run`, or `finish`, records them. The
  callback sender hands over from job to job so; the delivery job finishes
  its calls at the end of its slice.
- Whatever is claimed and not recorded comes back when its lease (set by the
  claim) runs out: after the process dies, after a database error, and after
  a call that raised (a bug: calls turn the failures they know into
  outcomes), which fails the run that collects it along with the calls that
  ended with it.
"""

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import AbstractContextManager, nullcontext
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# How long the calls that are about to end may join a batch of those that did.
WIDEN_SECONDS = 0.02


class Dispatcher(ABC, Generic[Item, Result]):
    """Up to `max_in_flight` calls in flight in `calls`, and the loop that
    claims items, starts their calls and records how they ended. One caller
    at a time: a second waits for the first."""

    def __init__(self, calls: Executor, *, max_in_flight: int, claim_batch: int, poll_seconds: float):
        self._calls = calls
        self._max_in_flight = max_in_flight
        self._claim_batch = claim_batch
        self._poll_seconds = poll_seconds
        self._in_flight: dict[Future[Result], Item] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def claim(self, free: int, in_flight: Collection[Item]) -> list[Item]:
        """Leases up to `free` due items and commits; `in_flight` are the
        items of this dispatcher's calls not yet recorded."""

    @abstractmethod
    def call(self, item: Item) -> Result:
        """Calls out for one item, in a thread of `calls`."""

    @abstractmethod
    def record(self, ended: list[tuple[Item, Result]]) -> None:
        """Writes how these calls ended."""

    def bookkeeping(self) -> AbstractContextManager[object]:
        """What claims and outcomes are written under (none by default)."""
        return nullcontext()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def run(self, *, until: float | None = None, limit: int | None = None) -> int:
        """Claims, calls and records until nothing is due and nothing is in
        flight, or until `limit` calls are made or `time.monotonic()` reaches
        `until`; returns how many calls it started. It does not wait for the
        calls in flight when it stops for `limit` or `until`."""
        made = 0
        with self._lock, self.bookkeeping():
            ended = self._ended(timeout=0)  # those the last run left in flight
            while True:
                if ended:
                    self.record(ended)
                if (limit is not None and made >= limit) or (until is not None and time.monotonic() >= until):
                    return made
                free = self._max_in_flight - len(self._in_flight)
                if limit is not None:
                    free = min(free, limit - made)
                if free >= self._claim_batch or (free > 0 and not (self._in_flight and ended)):
                    made += self._start(self.claim(free, list(self._in_flight.values())))
                if not self._in_flight:
                    return made
                # Wakes when a call ends, or after a while to claim what fell
                # due while every call in flight is slow.
                ended = self._ended(timeout=self._poll_seconds)

    def finish(self) -> None:
        """Records the calls in flight as they end."""
        with self._lock:
            if self._in_flight:
                with self.bookkeeping():
                    while self._in_flight:
                        self.record(self._ended(timeout=None))

    def _start(self, items: list[Item]) -> int:
        for item in items:
            self._in_flight[self._calls.submit(self.call, item)] = item
        return len(items)

    def _ended(self, *, timeout: float | None) -> list[tuple[Item, Result]]:
        done = wait(self._in_flight, timeout=timeout, return_when=FIRST_COMPLETED).done
        if done and len(done) < len(self._in_flight) // 4:
            done |= wait(self._in_flight.keys() - done, timeout=WIDEN_SECONDS).done
        ended = [(self._in_flight.pop(future), future) for future in done]
        # Forget them all first: a call that raised fails this run, and its
        # item is claimed again when its lease runs out.
        return [(item, future.result()) for item, future in ended]
