"""The simulator's durable record: every top-up by reference, and how many
requests of each kind each reference received, in one SQLite file.

Each request is one short SQLite transaction, committed before the simulator
answers, so an answered top-up survives a kill and a restart (WAL with
synchronous=NORMAL survives the process dying; only a machine crash could
lose the last commits, which no test of this service simulates). The
PRIMARY KEY on `topups.reference` is what makes a second charge impossible.
"""

import contextlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
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
    status TEXT NOT NULL CHECK (status IN ('successful', 'declined', 'rejected_number')),
    operator_reference TEXT,
    charges INTEGER NOT NULL CHECK (charges >= 0),
    created_at TEXT NOT NULL
);
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

_TOPUP_COLUMNS = "reference, msisdn, amount, operator, status, operator_reference, charges, created_at"


@dataclass(frozen=True)
class TopUp:
    reference: str
    msisdn: str
    amount: int
    operator: str
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


class Store:
    def __init__(self, path: str):
        # One connection shared by the server's threads: SQLite runs one writer
        # at a time anyway, and a Python lock queues them without the sleep-and-retry
        # of SQLite's busy handler.
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.executescript(_SCHEMA)

    def receive_topup(
        self, *, reference: str, msisdn: str, amount: int, operator: str, status: str | None
    ) -> Received:
        """Counts a top-up request; records the top-up with `status` unless the
        reference already has one or `status` is None (a top-up the operator loses)."""
        with self._lock, self._transaction() as cursor:
            requests_seen = cursor.execute(_COUNT_TOPUP_REQUEST, (reference,)).fetchone()[0]
            topup = self._find(cursor, reference)
            if topup is not None or status is None:
                return Received(requests_seen, topup, created=False)
            topup = TopUp(
                reference=reference,
                msisdn=msisdn,
                amount=amount,
                operator=operator,
                status=status,
                operator_reference=f"SIM-{secrets.token_hex(8).upper()}" if status == "successful" else None,
                charges=1 if status == "successful" else 0,
                created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            )
            cursor.execute(
                f"INSERT INTO topups ({_TOPUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    topup.reference,
                    topup.msisdn,
                    topup.amount,
                    topup.operator,
                    topup.status,
                    topup.operator_reference,
                    topup.charges,
                    topup.created_at,
                ),
            )
            return Received(requests_seen, topup, created=True)

    def receive_status_query(self, *, reference: str) -> Received:
        with self._lock, self._transaction() as cursor:
            requests_seen = cursor.execute(_COUNT_STATUS_QUERY, (reference,)).fetchone()[0]
            return Received(requests_seen, self._find(cursor, reference), created=False)

    def stats(self) -> dict:
        with self._lock:
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

    def all_references(self) -> list[dict]:
        """Every reference the simulator heard of, with its top-up if one was recorded."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT r.reference, r.topup_requests, r.status_queries, t.msisdn, t.amount, t.operator,"
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
            "status",
            "operator_reference",
            "charges",
            "created_at",
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        cursor = self._connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        else:
            cursor.execute("COMMIT")
        finally:
            cursor.close()

    @staticmethod
    def _find(cursor: sqlite3.Cursor, reference: str) -> TopUp | None:
        row = cursor.execute(f"SELECT {_TOPUP_COLUMNS} FROM topups WHERE reference = ?", (reference,)).fetchone()
        return TopUp(*row) if row else None

