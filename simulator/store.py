"""The simulator's durable record: every top-up by reference, and how many
requests of each kind each reference received, in one SQLite file.

Group commit: the writes of every request that arrives in one turn of the
event loop share one SQLite transaction, committed on the next turn, and no
request is answered before its transaction has committed; so an answered
top-up survives a kill and a restart (WAL with synchronous=NORMAL survives
the process dying; only a machine crash could lose the last commits, which
no test of this service simulates). A commit per request cost 72 us of CPU
against 18 us per request in batches of 20. The PRIMARY KEY on
`topups.reference` is what makes a second charge impossible.

The file outlives the process and every platform database in front of it, as
an operator's records do. A request that repeats a reference for a different
top-up (number, amount, operator or product) is a conflict: it is not
counted, and changes nothing.
"""

import asyncio
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import UTC, datetime

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    reference TEXT PRIMARY KEY,
    topup_requests INTEGER NOT NULL DEFAULT 0,
    status_queries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS topups (
    reference TEXT PRIMARY KEY,
    msisdn TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    operator TEXT NOT NULL,
    product TEXT,
    status TEXT NOT NULL CHECK (status IN ('successful', 'declined', 'rejected_number')),
    operator_reference TEXT,
    charges INTEGER NOT NULL CHECK (charges >= 0),
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS topups_by_operator_and_time ON topups (operator, created_at);
"""

_COUNT_TOPUP_REQUEST = """
INSERT INTO requests (reference, topup_requests) VALUES (?, 1)
ON CONFLICT (reference) DO UPDATE SET topup_requests = topup_requests + 1
RETURNING topup_requests + status_queries
"""

_COUNT_STATUS_QUERY = """
INSERT INTO requests (reference, status_queries) VALUES (?, 1)
ON CONFLICT (reference) DO UPDATE SET status_queries = status_queries + 1
RETURNING topup_requests + status_queries
"""

_TOPUP_COLUMNS = "reference, msisdn, amount, operator, product, status, operator_reference, charges, created_at"


@dataclass(frozen=True)
class TopUp:
    reference: str
    msisdn: str
    amount: int
    operator: str
    product: str | None
    status: str
    operator_reference: str | None
    charges: int
    created_at: str

    def as_json(self) -> dict:
        return {
            "reference": self.reference,
            "msisdn": self.msisdn,
            "amount": self.amount,
            "operator": self.operator,
            "product": self.product,
            "status": self.status,
            "operator_reference": self.operator_reference,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Received:
    """What the store knows about a reference once a request for it is counted."""

    requests_seen: int  # top-up requests and status queries for the reference, this one included
    topup: TopUp | None
    created: bool  # this request recorded (and, if successful, charged) the top-up
    conflict: bool = False  # the reference's top-up differs from this request: nothing counted or recorded


class Store:
    def __init__(self, path: str):
        # One connection, used by the server's single event-loop thread: requests
        # run one at a time, so no SQLite busy handler or lock is ever waited on.
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(_SCHEMA)
        columns = {row[1] for row in self._connection.execute("PRAGMA table_info(topups)")}
        if "product" not in columns:  # a file from before the protocol named products: all airtime
            self._connection.execute("ALTER TABLE topups ADD COLUMN product TEXT")
        self._batch: asyncio.Future | None = None  # the open transaction's commit, while one is open

    async def receive_topup(
        self, *, reference: str, msisdn: str, amount: int, operator: str, product: str | None, status: str | None
    ) -> Received:
        """Counts a top-up request; records the top-up with `status` unless the
        reference already has one or `status` is None (a top-up the operator loses).
        A request that conflicts with the reference's top-up is neither counted nor recorded."""
        return await self._write(lambda: self._receive_topup(reference, (msisdn, amount, operator, product), status))

    async def receive_status_query(self, *, reference: str) -> Received:
        return await self._write(lambda: self._receive_status_query(reference))

    async def stats(self) -> dict:
        await self._settled()
        topups, successful, declined, rejected, charges, charged_twice = self._connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'successful'),"
            " count(*) FILTER (WHERE status = 'declined'),"
            " count(*) FILTER (WHERE status = 'rejected_number'),"
            " coalesce(sum(charges), 0), count(*) FILTER (WHERE charges > 1) FROM topups"
        ).fetchone()
        references, topup_requests, status_queries, repeated = self._connection.execute(
            "SELECT count(*), coalesce(sum(topup_requests), 0), coalesce(sum(status_queries), 0),"
            " count(*) FILTER (WHERE topup_requests > 1) FROM requests"
        ).fetchone()
        return {
            "references": references,
            "topups": topups,
            "successful": successful,
            "declined": declined,
            "rejected_number": rejected,
            "charges": charges,
            "charged_twice": charged_twice,
            "topup_requests": topup_requests,
            "repeated_topup_requests": repeated,
            "status_queries": status_queries,
        }

    async def all_references(self) -> list[dict]:
        """Every reference the simulator heard of, with its top-up if one was recorded."""
        await self._settled()
        rows = self._connection.execute(
            "SELECT r.reference, r.topup_requests, r.status_queries, t.msisdn, t.amount, t.operator, t.product,"
            " t.status, t.operator_reference, coalesce(t.charges, 0), t.created_at"
            " FROM requests r LEFT JOIN topups t USING (reference) ORDER BY r.rowid"
        ).fetchall()
        names = (
            "reference",
            "topup_requests",
            "status_queries",
            "msisdn",
            "amount",
            "operator",
            "product",
            "status",
            "operator_reference",
            "charges",
            "created_at",
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def statement(self, *, operator: str, start: str, end: str) -> list[tuple]:
        """Every top-up of `operator` recorded from `start` to before `end`
        (ISO times in UTC, as `created_at` is written), oldest first."""
        await self._settled()
        return self._connection.execute(
            "SELECT reference, msisdn, amount, product, status, operator_reference, created_at FROM topups"
            " WHERE operator = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, reference",
            (operator, start, end),
        ).fetchall()

    def close(self) -> None:
        self._connection.close()

    async def _write(self, work: Callable[[], Received]) -> Received:
        if self._batch is None:
            self._connection.execute("BEGIN IMMEDIATE")
            self._batch = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._commit)
        batch = self._batch
        received = work()
        await batch
        return received

    async def _settled(self) -> None:
        """Waits until no transaction is open, so that reads see only committed requests."""
        while self._batch is not None:
            await asyncio.wait([self._batch])

    def _commit(self) -> None:
        batch, self._batch = self._batch, None
        assert batch is not None  # scheduled only while a batch is open
        try:
            self._connection.execute("COMMIT")
        except sqlite3.Error as error:
            # Nothing of the batch is kept, and each of its requests fails (uvicorn's 500:
            # "unknown" to the client, which then asks for the status).
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            batch.set_exception(error)
        else:
            batch.set_result(None)

    def _receive_topup(self, reference: str, what: tuple[str, int, str, str | None], status: str | None) -> Received:
        topup = self._find(reference)
        if topup is not None and (topup.msisdn, topup.amount, topup.operator, topup.product) != what:
            return Received(0, topup, created=False, conflict=True)
        requests_seen = self._connection.execute(_COUNT_TOPUP_REQUEST, (reference,)).fetchone()[0]
        if topup is not None or status is None:
            return Received(requests_seen, topup, created=False)
        topup = TopUp(
            reference,
            *what,
            status=status,
            operator_reference=f"SIM-{secrets.token_hex(8).upper()}" if status == "successful" else None,
            charges=1 if status == "successful" else 0,
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )
        self._connection.execute(
            f"INSERT INTO topups ({_TOPUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - a constant column list
            astuple(topup),
        )
        return Received(requests_seen, topup, created=True)

    def _receive_status_query(self, reference: str) -> Received:
        requests_seen = self._connection.execute(_COUNT_STATUS_QUERY, (reference,)).fetchone()[0]
        return Received(requests_seen, self._find(reference), created=False)

    def _find(self, reference: str) -> TopUp | None:
        row = self._connection.execute(
            f"SELECT {_TOPUP_COLUMNS} FROM topups WHERE reference = ?",  # noqa: S608 - a constant column list
            (reference,),
        ).fetchone()
        return TopUp(*row) if row else None
