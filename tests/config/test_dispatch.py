"""The shared loop (config/dispatch.py) with items in memory: what its two
users (the delivery, the callback sender) rely on and their own tests do not
reach: a call that raises, and calls that outlive a run."""

import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

import pytest

from config.dispatch import Dispatcher


class Uppercase(Dispatcher[str, str]):
    """Claims from a list, calls by upper-casing ("bug" raises, "slow" waits for `release`)."""

    def __init__(self, calls: ThreadPoolExecutor, due: list[str]):
        super().__init__(calls, max_in_flight=4, claim_batch=1, poll_seconds=0.05)
        self.due = due
        self.recorded: list[tuple[str, str]] = []
        self.release = threading.Event()

    def claim(self, free: int, in_flight: Collection[str]) -> list[str]:
        claimed, self.due = self.due[:free], self.due[free:]
        return claimed

    def call(self, item: str) -> str:
        if item == "bug":
            raise ValueError(item)
        if item == "slow":
            self.release.wait(5)
        return item.upper()

    def record(self, ended: list[tuple[str, str]]) -> None:
        self.recorded += ended


def test_a_call_that_raises_fails_the_run_and_is_never_recorded():
    """Its item comes back after its lease (the claim's business); the loop goes on."""
    with ThreadPoolExecutor(4) as calls:
        loop = Uppercase(calls, ["bug"])
        with pytest.raises(ValueError, match="bug"):
            loop.run()
        assert (loop.recorded, loop.in_flight) == ([], 0)

        loop.due = ["a", "b"]
        assert loop.run() == 2
    assert sorted(loop.recorded) == [("a", "A"), ("b", "B")]


def test_calls_outlive_a_run_and_the_next_run_or_finish_records_them():
    with ThreadPoolExecutor(4) as calls:
        loop = Uppercase(calls, ["slow"])
        started = time.monotonic()
        assert loop.run(until=started + 0.2) == 1
        assert time.monotonic() - started < 1, "the run waited for the slow call"
        assert (loop.recorded, loop.in_flight) == ([], 1)

        loop.release.set()
        loop.finish()
    assert (loop.recorded, loop.in_flight) == ([("slow", "SLOW")], 0)
