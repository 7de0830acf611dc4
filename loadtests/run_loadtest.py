"""`make loadtest`: locust against a real gunicorn on a fresh database, then
check that the ledger agrees with what the clients saw.

    .venv/bin/python -m loadtests.run_loadtest [--users 50 --spawn-rate 10 --duration 30s ...]

1. creates a scratch database `loadtest_<timestamp>_<pid>` on the project's
   PostgreSQL (DATABASE_URL's server, or the embedded one), migrates it and
   seeds funded sellers (`manage.py seed_loadtest`);
2. starts gunicorn on it (`gunicorn -c gunicorn.conf.py config.wsgi`, port
   LOADTEST_PORT) and runs locust headless (loadtests/locustfile.py);
3. prints requests/s and p50/p95/p99 per request, and responses by status;
4. stops gunicorn, runs `manage.py reconcile`, and checks every 201 recharge
   the clients saw against the database: each exists once, for the seller and
   amount the client asked, with exactly one ledger entry of -amount; and the
   database holds no recharge no client saw;
5. drops the scratch database (LOADTEST_KEEP_DB=1 keeps it).

Exits 1 on any mismatch, any 5xx or any other unexpected response.
Every option has an environment variable (see --help); files go to
loadtests/out/loadtest-<timestamp>/.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psycopg

from config.workers import workers
from loadtests import harness
from loadtests.harness import log, render_table


def parse_args(argv=None):
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", "-u", type=int, default=int(env("LOCUST_USERS", "50")), help="LOCUST_USERS (50)")
    parser.add_argument(
        "--spawn-rate", "-r", type=float, default=float(env("LOCUST_SPAWN_RATE", "10")), help="LOCUST_SPAWN_RATE (10/s)"
    )
    parser.add_argument("--duration", "-t", default=env("LOCUST_DURATION", "30s"), help="LOCUST_DURATION (30s)")
    parser.add_argument(
        "--processes",
        type=int,
        default=int(env("LOCUST_PROCESSES", "1")),
        help="LOCUST_PROCESSES: locust worker processes (1)",
    )
    parser.add_argument(
        "--sellers", type=int, default=int(env("LOADTEST_SELLERS", "200")), help="LOADTEST_SELLERS (200)"
    )
    parser.add_argument(
        "--credit",
        type=int,
        default=int(env("LOADTEST_CREDIT", "5000000")),
        help="LOADTEST_CREDIT: rials per seller (5,000,000: some run out, so 402s and top-ups happen)",
    )
    parser.add_argument("--port", type=int, default=int(env("LOADTEST_PORT", "18200")), help="LOADTEST_PORT (18200)")
    parser.add_argument("--workers", type=int, default=workers(), help="WEB_CONCURRENCY: gunicorn workers (CPUs + 1)")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        default=env("LOADTEST_KEEP_DB", "") not in ("", "0"),
        help="LOADTEST_KEEP_DB=1",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = harness.OUT_DIR / f"loadtest-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    seed_path = out / "seed.json"
    with harness.scratch_database("loadtest", keep=args.keep_db) as database_url:
        env = harness.child_env(database_url)
        harness.prepare(env, sellers=args.sellers, credit=args.credit, seed_path=seed_path)
        with harness.gunicorn(
            database_url, workers=args.workers, port=args.port, log_path=out / "gunicorn.log"
        ) as server:
            locust_status = run_locust(args, server.url, seed_path, out)
        problems = report_traffic(out)
        if locust_status not in (0, 1):  # 1 only means "there were failures", reported above
            problems.append(f"locust exited with {locust_status}; see {out / 'locust.log'}")
        problems += check_ledger(env, database_url, out)
    print()
    if problems:
        print("LOAD TEST FAILED:")
        for problem in problems:
            print(f"  - {problem}")
        print(f"(files: {out})")
        return 1
    print(f"LOAD TEST PASSED (files: {out})")
    return 0


def run_locust(args, host: str, seed_path: Path, out: Path) -> int:
    command = [
        str(harness.BIN / "locust"),
        "-f", "loadtests/locustfile.py",
        "--headless", "--only-summary",
        "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.duration,
        # Users finish the request in hand when time is up, so every response is seen.
        "--stop-timeout", "30",
        "--host", host,
        "--json-file", str(out / "locust-stats"),  # locust adds .json
        "--html", str(out / "locust-report.html"),  # charts of the run, to open in a browser
    ]  # fmt: skip
    if args.processes > 1:
        command += ["--processes", str(args.processes)]
    env = {**os.environ, "LOADTEST_SEED": str(seed_path), "LOADTEST_OUT": str(out)}
    log(f"locust: {args.users} users, spawn rate {args.spawn_rate}/s, {args.duration} (log: {out / 'locust.log'})")
    with open(out / "locust.log", "wb") as locust_log:
        return subprocess.run(
            command, cwd=harness.BASE_DIR, env=env, stdout=locust_log, stderr=subprocess.STDOUT
        ).returncode


def report_traffic(out: Path) -> list[str]:
    """Prints requests/s and latency per request, responses by status and the
    failures; returns the problems seen."""
    stats_path = out / "locust-stats.json"
    if not stats_path.exists():
        return [f"locust wrote no statistics; see {out / 'locust.log'}"]
    entries = json.loads(stats_path.read_text())
    rows = [_stats_row(entry["name"], [entry]) for entry in sorted(entries, key=lambda entry: entry["name"])]
    rows.append(_stats_row("TOTAL", entries))
    print()
    print(render_table(["request", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "failures"], rows))

    statuses: defaultdict[str, Counter[int]] = defaultdict(Counter)
    failures: Counter[tuple[str, str]] = Counter()
    for path in out.glob("outcomes-*.json"):
        outcomes = json.loads(path.read_text())
        for row in outcomes["statuses"]:
            statuses[row["name"]][row["status"]] += row["count"]
        for row in outcomes["failures"]:
            failures[(row["name"], row["error"])] += row["count"]
    totals: Counter[int] = Counter()
    for counts in statuses.values():
        totals.update(counts)
    every_status = sorted(totals)
    table = [[name, *(counts.get(status, "") for status in every_status)] for name, counts in sorted(statuses.items())]
    table.append(["TOTAL", *(totals[status] for status in every_status)])
    print()
    print("Responses by status (0 = no HTTP response):")
    print(render_table(["request", *map(str, every_status)], table))
    if failures:
        print()
        print("Failures:")
        print(
            render_table(
                ["request", "error", "count"], [[*key, count] for key, count in failures.most_common()], align_left=2
            )
        )

    problems = []
    requests = sum(entry["num_requests"] for entry in entries)
    if sum(totals.values()) != requests:
        problems.append(
            f"outcome files count {sum(totals.values())} responses, locust {requests}: a process lost its record"
        )
    server_errors = sum(count for status, count in totals.items() if status >= 500)
    if server_errors:
        problems.append(f"{server_errors} response(s) with a 5xx status")
    if totals.get(0):
        problems.append(f"{totals[0]} request(s) got no HTTP response")
    if failures:
        problems.append(
            f"{sum(failures.values())} failed request(s): 5xx, unexpected status or wrong body (see Failures)"
        )
    return problems


def _stats_row(name: str, entries: list[dict]) -> list:
    """One table row from locust's final statistics (summed over `entries`)."""
    histogram: Counter[Any] = Counter()
    for entry in entries:
        histogram.update({int(ms): count for ms, count in entry["response_times"].items()})
    count = sum(entry["num_requests"] for entry in entries)
    started = min(entry["start_time"] for entry in entries)
    ended = max(entry["last_request_timestamp"] or started for entry in entries)
    return [
        name,
        count,
        f"{count / max(ended - started, 1e-9):.1f}",
        _percentile(histogram, 0.50),
        _percentile(histogram, 0.95),
        _percentile(histogram, 0.99),
        round(max((entry["max_response_time"] for entry in entries), default=0)),
        sum(entry["num_failures"] for entry in entries),
    ]


def _percentile(histogram: Counter, fraction: float) -> int | str:
    """From locust's response-time histogram (ms, rounded as locust rounds them)."""
    total = sum(histogram.values())
    if not total:
        return ""
    seen = 0
    for milliseconds in sorted(histogram):
        seen += histogram[milliseconds]
        if seen >= fraction * total:
            return milliseconds
    return max(histogram)


def check_ledger(env: dict, database_url: str, out: Path) -> list[str]:
    """`manage.py reconcile`, then every 201 the clients saw against the database."""
    problems = []
    print()
    reconciled = subprocess.run([sys.executable, "manage.py", "reconcile"], cwd=harness.BASE_DIR, env=env)
    if reconciled.returncode:
        problems.append("manage.py reconcile found ledger problems")

    seen: dict[int, tuple[int, int]] = {}
    seen_twice = 0
    for path in out.glob("recharges-*.csv"):
        for line in path.read_text().splitlines():
            recharge_id, seller_id, amount = map(int, line.split(","))
            if recharge_id in seen:
                seen_twice += 1  # two fresh 201s naming one recharge: one debit answered twice
            seen[recharge_id] = (seller_id, amount)
    with psycopg.connect(database_url) as connection:
        stored = {
            recharge_id: (seller_id, amount, entries, matching)
            for recharge_id, seller_id, amount, entries, matching in connection.execute(
                """
                SELECT r.id, r.seller_id, r.amount, count(l.id),
                       count(l.id) FILTER (WHERE l.seller_id = r.seller_id AND l.amount = -r.amount AND l.kind = 'recharge')
                  FROM recharges_recharge r LEFT JOIN ledger_ledgerentry l ON l.recharge_id = r.id
                 GROUP BY r.id
                """
            )
        }
    missing = sorted(set(seen) - set(stored))
    unseen = sorted(set(stored) - set(seen))
    wrong = sorted(i for i in set(seen) & set(stored) if stored[i][:2] != seen[i])
    bad_entries = sorted(i for i, (_, _, entries, matching) in stored.items() if entries != 1 or matching != 1)
    print(
        f"Cross-check: {len(seen)} distinct recharge ids seen with 201, {len(stored)} recharges in the database; "
        f"missing {len(missing)}, never seen {len(unseen)}, wrong seller/amount {len(wrong)}, "
        f"without exactly one matching ledger entry {len(bad_entries)}, ids answered twice {seen_twice}."
    )
    for label, ids in [
        ("recharge(s) answered 201 but not in the database", missing),
        ("recharge(s) in the database that no client saw", unseen),
        ("recharge(s) with another seller or amount than the client asked", wrong),
        ("recharge(s) without exactly one matching ledger entry", bad_entries),
    ]:
        if ids:
            problems.append(f"{len(ids)} {label}, e.g. {ids[:10]}")
    if seen_twice:
        problems.append(f"{seen_twice} recharge id(s) returned by two different fresh (non-replayed) 201s")
    if not seen:
        problems.append("no recharge succeeded: the test proved nothing")
    return problems


if __name__ == "__main__":
    sys.exit(main())
