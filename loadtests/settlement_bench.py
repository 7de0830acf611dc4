"""Issue 24's settlement figure, as a ratio measured in one run (absolute
times on shared machines move from run to run):

    .venv/bin/python -m loadtests.settlement_bench [--recharges 100000] [--repeat 3] [--keep-db]

On a scratch database (created on the project's PostgreSQL server, migrated,
dropped at the end) it seeds --recharges successful recharges of one
operator (mci) sold today, written straight in SQL (the settlement reads
only the recharges and their numbers), and a simulator file whose statement
lists exactly those top-ups, then starts the simulator on it. Then the
median of --repeat runs after a warm-up:

  settle   settlement.services.settle for today: the statement over HTTP
           (CSV), parsed, COPY'd into a temporary table, compared in one
           query (it must find zero differences);
  COPY     `COPY (SELECT <the same recharges with their numbers>) TO STDOUT`
           read by psycopg: the floor, as for exports.

It prints both, the ratio settle / COPY, and settle's parts (the statement
fetched and parsed; the database work).
"""

import argparse
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, timedelta

import httpx

from loadtests import harness
from loadtests.harness import log, render_table

OPERATOR = "mci"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recharges", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    with harness.scratch_database("settlebench", keep=args.keep_db) as url:
        env = harness.child_env(url)
        harness.manage(env, "migrate", "--noinput", quiet=True)
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        try:
            return run(args)
        finally:
            from django.db import connections

            connections.close_all()


def run(args) -> int:
    from config.dates import business_today
    from recharges.gateway import HttpGateway
    from settlement.models import SettlementCase
    from settlement.services import settle

    day = business_today()
    started = time.monotonic()
    rows = seed_recharges(args.recharges)
    log(f"seeded {args.recharges:,} recharges in {time.monotonic() - started:.1f} s")
    statement_db = harness.OUT_DIR / f"settle-{os.getpid()}.sqlite3"
    statement_db.parent.mkdir(exist_ok=True)
    write_statement(statement_db, rows)
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(port), "--db", str(statement_db), "--latency-ms", "0"],
        cwd=harness.OUT_DIR.parent.parent,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/_sim/health")
        gateway = HttpGateway(f"http://127.0.0.1:{port}", connect_timeout=2, read_timeout=120)
        fetched = timed(args.repeat, lambda: gateway.statement(operator=OPERATOR, day=day))
        settled = timed(args.repeat, lambda: check_clean(settle(operator=OPERATOR, day=day, gateway=gateway)))
        copied = timed(args.repeat, lambda: copy_rows(day))
        gateway.close()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        for suffix in ("", "-wal", "-shm"):
            statement_db.with_name(statement_db.name + suffix).unlink(missing_ok=True)
    assert not SettlementCase.objects.exists()
    n = args.recharges
    table = [
        ["settle (end to end)", f"{settled:.2f} s", f"{n / settled:,.0f} rows/s"],
        ["  of which the statement (HTTP, CSV, parse)", f"{fetched:.2f} s", f"{n / fetched:,.0f} rows/s"],
        ["  of which the database (COPY in, compare, write)", f"{settled - fetched:.2f} s", ""],
        ["COPY of the same rows out", f"{copied:.2f} s", f"{n / copied:,.0f} rows/s"],
        ["ratio settle / COPY", f"{settled / copied:.1f}", ""],
    ]
    print(render_table(["figure", "seconds", "rate"], table))
    return 0


def seed_recharges(count: int) -> list[tuple]:
    """`count` successful recharges of OPERATOR sold over today so far (one
    seller, 10,000 numbers), straight in SQL; returns (reference, number,
    amount, operator reference, created_at) for the statement."""
    from django.db import connection

    from config.dates import business_today, day_start
    from sellers.services import create_seller

    seller, _ = create_seller(name="bench", username="bench-seller")
    start = day_start(business_today())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recharges_phonenumber (e164, created_at)"
            " SELECT '+98912' || lpad(i::text, 7, '0'), now() FROM generate_series(1, 10000) i"
        )
        cursor.execute(
            """
            INSERT INTO recharges_recharge
                   (seller_id, phone_number_id, amount, operator, commission_rate, created_at, status,
                    operator_reference, completed_at, next_attempt_at, topup_requested_at, attempts, last_error)
            SELECT %(seller)s, pn.id, 10000 + (i %% 50) * 1000, %(operator)s, 0,
                   %(start)s + (now() - %(start)s) * i / (%(count)s + 1), 'successful',
                   'SIM-' || i, now(), NULL, now(), 1, ''
              FROM generate_series(1, %(count)s) i
              JOIN recharges_phonenumber pn ON pn.e164 = '+98912' || lpad((i %% 10000 + 1)::text, 7, '0')
            """,
            {"seller": seller.pk, "operator": OPERATOR, "start": start, "count": count},
        )
        cursor.execute("ANALYZE")
        cursor.execute(
            "SELECT r.topup_reference::text, pn.e164, r.amount, r.operator_reference, r.created_at"
            " FROM recharges_recharge r JOIN recharges_phonenumber pn ON pn.id = r.phone_number_id"
        )
        return cursor.fetchall()


def write_statement(path, rows: list[tuple]) -> None:
    """The simulator's record of the same top-ups, each recorded when it was sold."""
    from simulator.store import Store

    Store(str(path)).close()  # its schema
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO topups (reference, msisdn, amount, operator, product, status, operator_reference, charges,"
            " created_at) VALUES (?, ?, ?, ?, NULL, 'successful', ?, 1, ?)",
            (
                (
                    reference,
                    number,
                    amount,
                    OPERATOR,
                    operator_reference,
                    at.astimezone(UTC).isoformat(timespec="milliseconds"),
                )
                for reference, number, amount, operator_reference, at in rows
            ),
        )


def check_clean(settlement) -> None:
    if settlement.differences:
        raise SystemExit(f"the seeded day should settle clean; {settlement.differences} differences")


def copy_rows(day) -> None:
    from django.db import connection

    from config.dates import day_start

    sql = (
        "COPY (SELECT r.id, r.topup_reference, r.amount, r.status, pn.e164 FROM recharges_recharge r"
        " JOIN recharges_phonenumber pn ON pn.id = r.phone_number_id"
        " WHERE r.operator = %s AND r.created_at >= %s AND r.created_at < %s) TO STDOUT"
    )
    connection.ensure_connection()
    bounds = [OPERATOR, day_start(day), day_start(day + timedelta(days=1))]
    with connection.connection.cursor() as cursor, cursor.copy(sql, bounds) as copy:
        for _ in copy:
            pass


def timed(repeat: int, action) -> float:
    """Median seconds of `repeat` runs after one warm-up."""
    durations = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        action()
        if attempt:
            durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"the simulator did not start ({url})")


if __name__ == "__main__":
    sys.exit(main())
