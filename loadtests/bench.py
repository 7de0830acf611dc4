"""`make bench`: how close the recharge path comes to its two ceilings, the
framework and the database, under each candidate HTTP server, in one run;
and what a sale costs PostgreSQL against an older commit.

    .venv/bin/python -m loadtests.bench [--servers gunicorn-sync,granian-t1] [--connections 32|64] ...

Each candidate server (`python -m config.serve`, settings
`loadtests.bench_settings` = the project's settings plus bench-only URLs) in
turn serves the same scratch database `bench_<timestamp>_<pid>`, seeded with
1,000 sellers, each funded far beyond what a run can spend:

  gunicorn-sync      gunicorn, sync workers (one request per process at a time;
                     the project's default server)
  gunicorn-gthread   gunicorn, gthread workers, GUNICORN_THREADS=4
  granian-t1         granian WSGI, 1 blocking thread per worker
  granian-t4         granian WSGI, 4 blocking threads per worker

all with the same number of workers (--workers, as WEB_CONCURRENCY). Phases
under each, after a short warm-up:

  parse          POST /bench/parse/: DRF parses and renders JSON; no auth, no
                 database (only with --only parse)
  echo           POST /bench/echo/: the same, plus a DRF serializer validating
                 the sale's body
  recharge       POST /api/v1/recharges/ as random sellers among 1,000
  recharge hot   the same on 1 seller (--hot: every request contends for its row)
  recharge lim.  the two above again, under the first candidate only, with
  hot lim.       every seller earning a commission on every operator and all
                 three limits set (max_recharge_amount, daily_amount,
                 number_hourly_count: high enough never to refuse), so the
                 sale does all of v1.2's work; printed as ratios to the sale
                 without them (the commission is only looked up and fixed at
                 sale: nothing is delivered here, so none is paid)
  batch          POST /api/v1/recharge-batches/ with 100 items, 1,000 sellers
  tail runs      under the default server only: the recharge phase again
                 --tail-runs times (5) at 32 connections and as many at 64,
                 after a warm-up at each, nothing restarted, each run followed
                 by one of the echo at the same count: p50, p99 and p99/p50 of
                 each (the echo's: the tail of the server and the machine
                 without the database)

then, once, with no candidate running:

  reference      echo under gunicorn sync with 4 workers, whatever --workers
                 and --servers say: the fixed row every ratio is taken against
                 (the issue's "validating DRF POST, no database"), so ratios
                 compare across server choices and across days
  pgbench        `SELECT * FROM sell_recharge(...)` straight on
                 PostgreSQL (the database ceiling), 1,000 sellers, then 1
  baseline A/B   PostgreSQL CPU per sale against --baseline-commit (4c6c2f6;
                 '' skips it): its tree is taken with `git archive` into a
                 temporary directory, migrated and seeded by its own code into a
                 second scratch database `bench_old_<timestamp>_<pid>` on the
                 same server; then pgbench sells over all sellers of each
                 database in turn (after a warm-up of each): old, HEAD, old,
                 HEAD. PostgreSQL's CPU seconds / transactions processed give
                 its CPU milliseconds per sale (the old sell_recharge takes 6
                 arguments, hence its own script, BASELINE_PGBENCH_SCRIPT)

HTTP phases use wrk (installed with apt-get if missing) and
loadtests/wrk/recharge.lua: a random seller token from the seed file, a unique
Idempotency-Key, random valid mobile numbers, round amounts. pgbench runs the
service's own statement *with* an Idempotency-Key (a fresh UUID) and a request
hash, as every HTTP recharge here does, so both sides do the same database
work: claim the key, debit, write recharge + ledger entry, store the response.

Reports requests/s (recharges/s for batches), the ratio to the reference,
p50, p99 and p99/p50, responses by status, resident memory per worker after
the phase, and CPU in cores (CPU seconds / wall seconds) used by the server,
by PostgreSQL, by the load generator and by everything else on the machine
(PostgreSQL's: the postmaster's process tree, counted once it has reaped the
backends of clients that just disconnected, see harness.CpuSplit);
CPU milliseconds per request for the echoes and spread sales, with the
ceiling a spread sale can reach on shared cores; then the tail runs, the
baseline A/B, and the issue's targets (issue 23), each as "<value> PASS|FAIL":

  PostgreSQL     CPU ms per sale HEAD / baseline <= 0.7, in both A/B pairs
  PostgreSQL     pgbench on 1 hot seller / pgbench on 1,000 sellers >= 0.6
  each server    HTTP sale on 1 hot seller / on 1,000 sellers >= 0.9
  each server    (spread sale / reference) / its ceiling >= 0.85, the ceiling
                 being ref ms / (ref ms + the sale's PostgreSQL ms), CPU per
                 request
  each server    server CPU ms per spread sale / per echo <= 1.25
  each server    batch recharges/s / pgbench tx/s (1,000 sellers) >= 3
  default server spread p99/p50 <= 1.5 in all tail runs but one (4 of 5), at
                 32 and at 64 connections

With --only, the tail runs need recharge among the phases and the baseline
A/B needs pgbench. Exits 1 if the harness saw errors (5xx, unexpected 4xx,
pgbench failures, ledger not reconciled in either database); with --strict
also if a PostgreSQL or default-server target fails. Cleans up: stops each
server and drops the scratch databases (--keep-db keeps them).
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil
import psycopg

from config.serve import DEFAULT_SERVER
from config.workers import workers
from loadtests import harness
from loadtests.harness import log, render_table

WRK_SCRIPT = harness.BASE_DIR / "loadtests" / "wrk" / "recharge.lua"
# The business time zone the server passes (settings.BUSINESS_TIME_ZONE's default).
BUSINESS_TIME_ZONE = os.environ.get("BUSINESS_TIME_ZONE", "Asia/Tehran")
PGBENCH_SCRIPT = """\
\\set seller random(:first_seller, :last_seller)
\\set amount 10000 * random(1, 50)
\\set phone random(0, 9999999)
SELECT * FROM sell_recharge(:seller, '+98912' || lpad(:phone::text, 7, '0'), 'mci', :amount, NULL, 'pgbench-' || gen_random_uuid(), '{hash}', '{zone}');
""".format(hash="0" * 64, zone=BUSINESS_TIME_ZONE)
# The same sale on the baseline commit (4c6c2f6), whose sell_recharge takes 6 arguments.
BASELINE_PGBENCH_SCRIPT = """\
\\set seller random(:first_seller, :last_seller)
\\set amount 10000 * random(1, 50)
\\set phone random(0, 9999999)
SELECT * FROM sell_recharge(:seller, '+98912' || lpad(:phone::text, 7, '0'), 'mci', :amount, 'pgbench-' || gen_random_uuid(), '{hash}');
""".format(hash="0" * 64)
TAIL_CONNECTIONS = (32, 64)
CPU_PER_SALE_TARGET = 0.7  # HEAD's PostgreSQL CPU per sale / the baseline's, in each A/B pair
# What every seller has in the "limits" phases: 2.5 % on every operator, and
# limits no run can reach (a seller's credit, 10^13, runs out long before).
COMMISSION_RATE = 250
LIMITS = {"max_recharge_amount": 10**12, "daily_amount": 10**15, "number_hourly_count": 1_000_000}


@dataclass(frozen=True)
class Candidate:
    key: str
    title: str
    env: dict
    workers: int | None = None  # None: --workers


CANDIDATES = [
    Candidate("gunicorn-sync", "gunicorn sync", {"SERVER": "gunicorn", "GUNICORN_WORKER_CLASS": "sync"}),
    Candidate(
        "gunicorn-gthread", "gunicorn gthread x4 threads",
        {"SERVER": "gunicorn", "GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "4"},
    ),
    Candidate("granian-t1", "granian WSGI, 1 thread", {"SERVER": "granian", "GRANIAN_BLOCKING_THREADS": "1"}),
    Candidate("granian-t4", "granian WSGI, 4 threads", {"SERVER": "granian", "GRANIAN_BLOCKING_THREADS": "4"}),
]  # fmt: skip
REFERENCE = Candidate(
    "reference", "reference: gunicorn sync x4", {"SERVER": "gunicorn", "GUNICORN_WORKER_CLASS": "sync"}, 4
)
# The candidate the project serves with by default (config.serve): its targets decide --strict.
DEFAULT_CANDIDATE = next(c.key for c in CANDIDATES if c.env["SERVER"] == DEFAULT_SERVER)
SERVER_PHASES = ("echo", "recharge", "recharge-limits", "hot", "hot-limits", "batch")
# Under the first candidate only: the comparison is of the sale's work, not of servers.
FIRST_CANDIDATE_PHASES = ("recharge-limits", "hot-limits")


@dataclass
class Phase:
    key: str
    title: str
    tool: str  # "wrk" or "pgbench"
    sellers: int
    path: str = ""
    items: int = 0
    limits: bool = False  # every seller has a commission rate and all three limits (LIMITS)
    connections: int | None = None  # None: --connections


@dataclass(frozen=True)
class Database:
    """A scratch database pgbench sells on: its URL, its first seeded seller
    (the sellers are one range of ids) and the pgbench script of its code."""

    url: str
    first_seller: int
    script: Path


@dataclass
class Result:
    phase: Phase
    rate: float  # requests (or transactions) per second
    p50_ms: float | None
    p99_ms: float | None
    statuses: dict = field(default_factory=dict)
    errors: str = ""
    cpu: dict = field(default_factory=dict)  # cores by part (harness.CpuSplit)
    cpu_seconds: dict = field(default_factory=dict)
    server: str = ""
    rss_mib: float | None = None  # mean resident memory per worker after the phase

    @property
    def recharges_per_second(self) -> float:
        return self.rate * (self.phase.items or 1)


def parse_args(argv=None):
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--connections",
        "-c",
        type=int,
        default=int(env("BENCH_CONNECTIONS", "32")),
        help="BENCH_CONNECTIONS (32; 64 also useful)",
    )
    parser.add_argument(
        "--duration",
        "-d",
        type=float,
        default=float(env("BENCH_DURATION", "10")),
        help="BENCH_DURATION: seconds per phase (10)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=float(env("BENCH_WARMUP", "2")),
        help="BENCH_WARMUP: seconds before each phase (2)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(env("BENCH_THREADS", "2")),
        help="BENCH_THREADS: wrk threads and pgbench jobs (2)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=workers(),
        help="WEB_CONCURRENCY: workers of every candidate server (CPUs + 1)",
    )
    parser.add_argument(
        "--servers",
        default=env("BENCH_SERVERS", ",".join(c.key for c in CANDIDATES)),
        help="BENCH_SERVERS: comma-separated candidates: " + ", ".join(c.key for c in CANDIDATES),
    )
    parser.add_argument("--port", type=int, default=int(env("BENCH_PORT", "18250")), help="BENCH_PORT (18250)")
    parser.add_argument("--sellers", type=int, default=1000, help="sellers to spread over (1000)")
    parser.add_argument("--hot", type=int, default=1, help="hot sellers (1)")
    parser.add_argument("--batch-items", type=int, default=100, help="items per batch (100)")
    parser.add_argument("--credit", type=int, default=10**13, help="rials per seller (10^13: never runs out)")
    parser.add_argument(
        "--pgbench",
        default=env("PGBENCH", ""),
        help="PGBENCH: pgbench binary (/usr/bin/pgbench, else the embedded server's)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated phases to run: " + ", ".join(p.key for p in phases(parser.parse_args([]))),
    )
    parser.add_argument(
        "--soak",
        type=float,
        default=float(env("BENCH_SOAK", "0")),
        help="BENCH_SOAK: seconds of spread sales per server while sampling worker memory (0: skip; 300 for the target)",
    )
    parser.add_argument(
        "--tail-runs",
        type=int,
        default=5,
        help="runs of the spread sale at 32 and at 64 connections under the default server (5; 0: skip)",
    )
    parser.add_argument(
        "--baseline-commit",
        default="4c6c2f6",
        help="commit to compare PostgreSQL CPU per sale with, A/B/A/B (4c6c2f6; '': skip)",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch databases")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails, too")
    return parser.parse_args(argv)


def _hot(count: int) -> str:
    return "1 hot seller" if count == 1 else f"{count} hot sellers"


def phases(args) -> list[Phase]:
    return [
        Phase("parse", "POST /bench/parse/ (parse only, no database)", "wrk", args.sellers, "/bench/parse/"),
        Phase("echo", "POST /bench/echo/ (validates, no database)", "wrk", args.sellers, "/bench/echo/"),
        Phase("recharge", f"POST /recharges/, {args.sellers} sellers", "wrk", args.sellers, "/api/v1/recharges/"),
        Phase(
            "recharge-limits", f"POST /recharges/, {args.sellers} sellers, commission + 3 limits", "wrk", args.sellers,
            "/api/v1/recharges/", limits=True,
        ),
        Phase("hot", f"POST /recharges/, {_hot(args.hot)}", "wrk", args.hot, "/api/v1/recharges/"),
        Phase(
            "hot-limits", f"POST /recharges/, {_hot(args.hot)}, commission + 3 limits", "wrk", args.hot,
            "/api/v1/recharges/", limits=True,
        ),
        Phase(
            "batch", f"POST /recharge-batches/ x{args.batch_items}, {args.sellers} sellers", "wrk", args.sellers,
            "/api/v1/recharge-batches/", args.batch_items,
        ),
        Phase("pgbench", f"pgbench sell_recharge, {args.sellers} sellers", "pgbench", args.sellers),
        Phase("pgbench-hot", f"pgbench sell_recharge, {_hot(args.hot)}", "pgbench", args.hot),
    ]  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    selected = [phase for phase in phases(args) if (phase.key in only if only else phase.key != "parse")]
    by_key = {candidate.key: candidate for candidate in CANDIDATES}
    unknown = [key for key in args.servers.split(",") if key not in by_key]
    if unknown:
        raise SystemExit(f"unknown --servers {unknown}; choose among {', '.join(by_key)}")
    candidates = [by_key[key] for key in args.servers.split(",")]
    wrk = ensure_wrk()
    pgbench = find_pgbench(args.pgbench)
    out = harness.OUT_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    seed_path = out / "seed.json"
    (out / "pgbench-recharge.sql").write_text(PGBENCH_SCRIPT)
    spread = next(phase for phase in phases(args) if phase.key == "recharge")
    problems: list[str] = []
    results: list[Result] = []
    tails: list[Result] = []
    baseline: list[Result] = []
    soaks: list[list] = []
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(harness.scratch_database("bench", keep=args.keep_db))
        env = harness.child_env(database_url)
        harness.prepare(env, sellers=args.sellers, credit=args.credit, seed_path=seed_path)
        database = Database(database_url, check_seed(seed_path, args.sellers), out / "pgbench-recharge.sql")
        old = None
        if args.baseline_commit and any(phase.key == "pgbench" for phase in selected):
            old_tree, old = prepare_baseline(args, out, stack)
        postgres_pid = harness.postmaster_pid(database_url)
        echo = [phase for phase in phases(args) if phase.key == "echo"]
        plan = [
            (
                candidate,
                [
                    p
                    for p in selected
                    if (p.key in SERVER_PHASES or p.key == "parse")
                    and (candidate is candidates[0] or p.key not in FIRST_CANDIDATE_PHASES)
                ],
            )
            for candidate in candidates
        ]
        plan.append((REFERENCE, echo + [p for p in selected if p.tool == "pgbench"]))
        for candidate, candidate_phases in plan:
            if not candidate_phases:
                continue
            with harness.gunicorn(
                database_url,
                workers=candidate.workers or args.workers,
                port=args.port,
                log_path=out / f"server-{candidate.key}.log",
                DJANGO_SETTINGS_MODULE="loadtests.bench_settings",
                **candidate.env,
            ) as server:
                runner = PhaseRunner(args, wrk, pgbench, server, database, seed_path, out, postgres_pid)
                for phase in candidate_phases:
                    result = runner.run(phase, candidate)
                    results.append(result)
                if candidate.key == DEFAULT_CANDIDATE and args.tail_runs > 0 and spread in selected:
                    tails = runner.tail_runs(spread, echo[0], candidate)
                if args.soak > 0 and candidate is not REFERENCE:
                    soaks.append(runner.soak(spread, candidate, args.soak))
        if old:
            baseline = baseline_rounds(args, pgbench, out, postgres_pid, old, database)
            problems += reconcile(old_tree, old.url)
        problems += reconcile(harness.BASE_DIR, database_url)
    problems += report(args, results)
    print_cpu_per_request(results)
    print_tails(tails)
    print_baseline(args, baseline)
    targets_failed = check_targets(args, results, tails, baseline)
    print_limits_cost(results)
    if soaks:
        print(f"\nResident memory per worker (MiB) over a {args.soak:g} s spread-sale run, sampled every tenth of it:")
        headers = ["server", "sales/s", "first", "last", "max", "last vs first", "flat (within 10 %)"]
        print(render_table(headers, soaks))
    everything = results + tails + baseline
    (out / "results.json").write_text(json.dumps([result_dict(result) for result in everything], indent=1) + "\n")
    print(f"\n(files: {out})")
    if problems:
        print("BENCH HARNESS PROBLEMS:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    return 1 if args.strict and targets_failed else 0


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    log("wrk not found: installing the Debian package with apt-get")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("could not install wrk (apt-get install wrk)")
    return wrk


def find_pgbench(explicit: str) -> str:
    candidates = [explicit] if explicit else ["/usr/bin/pgbench", shutil.which("pgbench") or ""]
    if not explicit:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
                import pgserver

            candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"))
        except ImportError:
            pass
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("pgbench not found; pass --pgbench PATH")


def check_seed(seed_path: Path, sellers: int) -> int:
    """The id of the first seller; pgbench picks sellers by id range, so the
    seeded ids must be one contiguous range, in the seed file's order."""
    ids = [seller["seller_id"] for seller in json.loads(seed_path.read_text())["sellers"]]
    if ids != list(range(ids[0], ids[0] + sellers)):
        raise SystemExit("seeded seller ids are not one contiguous range; pgbench could not pick them by range")
    return ids[0]


def prepare_baseline(args, out: Path, stack: contextlib.ExitStack) -> tuple[Path, Database]:
    """The --baseline-commit's tree (`git archive` into a temporary directory:
    inside the checkout, mypy would find every module twice) and its own
    scratch database, migrated and seeded by that tree's code (this venv runs
    it too); both go when `stack` closes."""
    tree = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-baseline-")))
    archive = subprocess.run(["git", "archive", args.baseline_commit], cwd=harness.BASE_DIR, capture_output=True)
    if archive.returncode:
        raise SystemExit(f"git archive {args.baseline_commit} failed: {archive.stderr.decode()[-1000:]}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    url = stack.enter_context(harness.scratch_database("bench_old", keep=args.keep_db))
    seed_path = out / "seed-baseline.json"
    log(f"baseline {args.baseline_commit}: migrating and seeding with its own code")
    harness.prepare(harness.child_env(url), sellers=args.sellers, credit=args.credit, seed_path=seed_path, tree=tree)
    script = out / "pgbench-recharge-baseline.sql"
    script.write_text(BASELINE_PGBENCH_SCRIPT)
    return tree, Database(url, check_seed(seed_path, args.sellers), script)


def baseline_rounds(
    args, pgbench: str, out: Path, postgres_pid: int | None, old: Database, new: Database
) -> list[Result]:
    """pgbench over all sellers on the baseline's database and on HEAD's, with
    PostgreSQL's CPU: a warm-up of each, then old, HEAD, old, HEAD (two A/B
    pairs, one per round)."""
    phase = Phase("baseline", "", "pgbench", args.sellers)
    sides = (("old", args.baseline_commit, old), ("head", "HEAD", new))
    if args.warmup > 0:
        for side, _, database in sides:
            run_pgbench(args, pgbench, database, replace(phase, key=f"baseline-{side}"), args.warmup, out, warmup=True)
    results = []
    for round_ in (1, 2):
        for side, commit, database in sides:
            log(f"baseline A/B round {round_}: pgbench on {commit}: {args.duration:g} s at {args.connections} clients")
            with harness.CpuSplit(None, postgres_pid) as cpu:
                result = run_pgbench(
                    args, pgbench, database, replace(phase, key=f"baseline-{round_}-{side}", title=commit),
                    args.duration, out,
                )  # fmt: skip
            result.cpu, result.cpu_seconds = cpu.cores, cpu.seconds
            results.append(result)
    return results


def reconcile(tree: Path, database_url: str) -> list[str]:
    """`manage.py reconcile` of `tree`'s code on the database: the problem, if any."""
    completed = subprocess.run(
        [sys.executable, "manage.py", "reconcile"], cwd=tree, env=harness.child_env(database_url),
        capture_output=True, text=True,
    )  # fmt: skip
    if completed.returncode:
        return [f"manage.py reconcile ({tree}) found ledger problems:\n{completed.stderr[-2000:]}"]
    return []


class PhaseRunner:
    def __init__(self, args, wrk, pgbench, server, database: Database, seed_path, out, postgres_pid):
        self.args, self.wrk, self.pgbench, self.server = args, wrk, pgbench, server
        self.database, self.seed_path, self.out, self.postgres_pid = database, seed_path, out, postgres_pid

    def run(self, phase: Phase, candidate: Candidate) -> Result:
        measure = self.wrk_phase if phase.tool == "wrk" else self.pgbench_phase
        set_limits(self.database.url, phase.limits)
        self.candidate_key = candidate.key
        if self.args.warmup > 0:
            measure(phase, self.args.warmup, warmup=True)
        log(f"{candidate.title}: {phase.title}: {self.args.duration:g} s at {self.args.connections} connections")
        with harness.CpuSplit(self.server.process.pid, self.postgres_pid) as cpu:
            result = measure(phase, self.args.duration)
        result.cpu, result.cpu_seconds = cpu.cores, cpu.seconds
        result.server = "" if phase.tool == "pgbench" else candidate.key
        result.rss_mib = None if phase.tool == "pgbench" else worker_rss_mib(self.server.worker_pids())
        return result

    def tail_runs(self, phase: Phase, echo: Phase, candidate: Candidate) -> list[Result]:
        """The phase --tail-runs times at each of TAIL_CONNECTIONS, one after
        the other on the running server, after a warm-up at each count as
        every phase has (without it the first run at 32 connections met what
        the batch phase before it left behind: p99/p50 3.1-4.3 in the first
        run of each of four bench runs, 1.3-2.1 in the others). Each run is
        followed by one of the echo (no database) at the same count: the
        tail the server and the machine give alone, measured alongside."""
        self.candidate_key = candidate.key
        results = []
        for connections in TAIL_CONNECTIONS:
            if self.args.warmup > 0:
                for warmed in (phase, echo):
                    self.wrk_phase(replace(warmed, connections=connections), self.args.warmup, warmup=True)
            for run in range(1, self.args.tail_runs + 1):
                log(
                    f"{candidate.title}: tail run {run}: {self.args.duration:g} s at {connections} conn., then the echo"
                )
                for measured, key in ((phase, f"tail-{connections}-{run}"), (echo, f"tail-echo-{connections}-{run}")):
                    result = self.wrk_phase(replace(measured, key=key, connections=connections), self.args.duration)
                    result.server = candidate.key
                    results.append(result)
        return results

    def wrk_phase(self, phase: Phase, seconds: float, warmup: bool = False) -> Result:
        connections = phase.connections or self.args.connections
        command = [
            self.wrk, "-t", str(min(self.args.threads, connections)), "-c", str(connections),
            "-d", f"{max(1, round(seconds))}s", "--latency", "--timeout", "10s", "-s", str(WRK_SCRIPT), self.server.url,
            "--", str(self.seed_path), str(phase.sellers), phase.path, str(phase.items), uuid.uuid4().hex[:12],
        ]  # fmt: skip
        completed = subprocess.run(command, capture_output=True, text=True)
        if not warmup:
            (self.out / f"wrk-{self.candidate_key}-{phase.key}.txt").write_text(completed.stdout + completed.stderr)
        if completed.returncode:
            raise SystemExit(f"wrk failed ({completed.returncode}): {completed.stderr[-1000:]}")
        return parse_wrk(phase, completed.stdout)

    def soak(self, phase: Phase, candidate: Candidate, seconds: float) -> list:
        """Sells for `seconds` while sampling the workers' resident memory; one
        row of the memory table. The first sample is taken after a warm-up."""
        self.candidate_key = candidate.key
        self.wrk_phase(phase, self.args.warmup or 2, warmup=True)
        log(f"{candidate.title}: memory over {seconds:g} s of {phase.title}")
        command = [
            self.wrk, "-t", str(min(self.args.threads, self.args.connections)), "-c", str(self.args.connections),
            "-d", f"{max(1, round(seconds))}s", "--latency", "--timeout", "10s", "-s", str(WRK_SCRIPT), self.server.url,
            "--", str(self.seed_path), str(phase.sellers), phase.path, "0", uuid.uuid4().hex[:12],
        ]  # fmt: skip
        load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        samples = []
        while load.poll() is None:
            samples.append(worker_rss_mib(self.server.worker_pids()))
            with contextlib.suppress(subprocess.TimeoutExpired):
                load.wait(seconds / 10)
        output = load.stdout.read() if load.stdout else ""
        (self.out / f"wrk-{candidate.key}-soak.txt").write_text(output)
        sizes = [size for size in samples if size is not None]
        if not sizes:
            return [candidate.key, "n/a", "", "", "", "", "n/a"]
        change = (sizes[-1] - sizes[0]) / sizes[0]
        rate = parse_wrk(phase, output).rate
        return [
            candidate.key, f"{rate:.0f}", f"{sizes[0]:.1f}", f"{sizes[-1]:.1f}", f"{max(sizes):.1f}",
            f"{change:+.1%}", "PASS" if abs(change) <= 0.10 else "FAIL",
        ]  # fmt: skip

    def pgbench_phase(self, phase: Phase, seconds: float, warmup: bool = False) -> Result:
        return run_pgbench(self.args, self.pgbench, self.database, phase, seconds, self.out, warmup)


def run_pgbench(
    args, pgbench: str, database: Database, phase: Phase, seconds: float, out: Path, warmup=False
) -> Result:
    """pgbench of the database's sale script over the phase's sellers, at --connections clients."""
    params = harness.connection_params(database.url)
    log_dir = out / f"pgbench-log-{phase.key}"
    log_dir.mkdir(exist_ok=True)
    command = [
        pgbench, "-n", "-M", "prepared", "-c", str(args.connections),
        "-j", str(min(args.threads, args.connections)), "-T", str(max(1, round(seconds))), "-f", str(database.script),
        "-D", f"first_seller={database.first_seller}", "-D", f"last_seller={database.first_seller + phase.sellers - 1}",
    ]  # fmt: skip
    if not warmup:
        command += ["-l", f"--log-prefix={log_dir / 'tx'}"]
    for flag, name in (("-h", "host"), ("-p", "port"), ("-U", "user")):
        if params[name]:
            command += [flag, params[name]]
    command.append(params["dbname"])
    env = {**os.environ, **({"PGPASSWORD": params["password"]} if params["password"] else {})}
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out)
    if not warmup:
        (out / f"pgbench-{phase.key}.txt").write_text(completed.stdout + completed.stderr)
    if completed.returncode:
        raise SystemExit(f"pgbench failed ({completed.returncode}): {completed.stderr[-1000:]}")
    result = parse_pgbench(phase, completed.stdout, sorted(log_dir.glob("tx.*")))
    log_dir.rmdir()
    return result


def set_limits(database_url: str, on: bool) -> None:
    """Gives every seller a commission rate on every operator and LIMITS, or
    takes them away (the state the other phases run in)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE sellers_seller SET max_recharge_amount = %s, daily_amount = %s, number_hourly_count = %s",
            [LIMITS[name] if on else None for name in ("max_recharge_amount", "daily_amount", "number_hourly_count")],
        )
        connection.execute("DELETE FROM recharges_commissionrate")
        if on:
            connection.execute(
                "INSERT INTO recharges_commissionrate (seller_id, operator_id, rate)"
                " SELECT s.id, o.code, %s FROM sellers_seller s CROSS JOIN recharges_operator o",
                [COMMISSION_RATE],
            )


def worker_rss_mib(pids: list[int]) -> float | None:
    sizes = []
    for pid in pids:
        try:
            sizes.append(psutil.Process(pid).memory_info().rss / 2**20)
        except psutil.Error:
            continue
    return sum(sizes) / len(sizes) if sizes else None


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _match(pattern: str, find: Callable[[str, str], re.Match[str] | None], text: str) -> re.Match[str]:
    """The match a tool's output must contain; its absence is a clear error, not a TypeError."""
    match = find(pattern, text)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in the output:\n{text[-2000:]}")
    return match


def _ms(text: str) -> float:
    number, unit = _match(r"([\d.]+)(us|ms|s|m)", re.fullmatch, text).groups()
    return float(number) * _UNITS_MS[unit]


def parse_wrk(phase: Phase, output: str) -> Result:
    percentiles = {match[0]: _ms(match[1]) for match in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M)}
    rate = float(_match(r"Requests/sec:\s+([\d.]+)", re.search, output)[1])
    statuses = {key: int(value) for key, value in re.findall(r"(2xx|402|4xx|5xx)=(\d+)", output)}
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return Result(
        phase, rate, percentiles.get("50"), percentiles.get("99"), statuses, socket_errors[1] if socket_errors else ""
    )


def parse_pgbench(phase: Phase, output: str, log_files: list[Path]) -> Result:
    rate = float(_match(r"tps = ([\d.]+) \(without initial connection time\)", re.search, output)[1])
    processed = int(_match(r"number of transactions actually processed: (\d+)", re.search, output)[1])
    failed = re.search(r"number of failed transactions: (\d+)", output)
    latencies = []
    for path in log_files:
        for line in path.read_text().splitlines():
            latencies.append(int(line.split()[2]) / 1000)  # microseconds
        path.unlink()
    latencies.sort()

    def percentile(fraction):
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] if latencies else None

    statuses = {"2xx": processed, "5xx": int(failed[1]) if failed else 0}
    return Result(phase, rate, percentile(0.50), percentile(0.99), statuses)


def _fmt(value, spec=".1f"):
    return "n/a" if value is None else format(value, spec)


def _reference(results: list[Result]) -> Result | None:
    return next((r for r in results if r.server == REFERENCE.key and r.phase.key == "echo"), None)


def report(args, results: list[Result]) -> list[str]:
    reference = _reference(results)
    rows, problems = [], []
    for result in results:
        phase, statuses = result.phase, result.statuses
        vs_reference = (
            f"{result.rate / reference.rate:.2f}" if reference and phase.tool == "wrk" and reference.rate else ""
        )
        tail = f"{result.p99_ms / result.p50_ms:.1f}" if result.p50_ms and result.p99_ms else ""
        rows.append(
            [
                result.server or "(PostgreSQL)",
                phase.title,
                f"{result.rate:.0f}",
                f"{result.recharges_per_second:.0f}" if phase.key not in ("echo", "parse") else "",
                vs_reference,
                _fmt(result.p50_ms),
                _fmt(result.p99_ms),
                tail,
                statuses.get("2xx", 0),
                statuses.get("402", 0) if phase.tool == "wrk" else "",
                statuses.get("4xx", 0) + statuses.get("5xx", 0),
                _fmt(result.rss_mib, ".0f") if result.rss_mib else "",
                *(_fmt(result.cpu.get(part), ".2f") for part in ("server", "postgres", "generator", "other")),
            ]
        )
        if statuses.get("5xx") or statuses.get("4xx"):
            problems.append(
                f"{result.server} {phase.title}: {statuses.get('4xx', 0)} unexpected 4xx, {statuses.get('5xx', 0)} 5xx/failed"
            )
        if statuses.get("402"):
            problems.append(f"{phase.title}: {statuses['402']} x 402 (sellers ran out of credit: raise --credit)")
        if re.search(r"[1-9]", result.errors):
            print(f"note: {result.server} {phase.title}: wrk socket errors: {result.errors}")
    print()
    print(
        f"Benchmark: {args.connections} connections, {args.duration:g} s per phase, "
        f"{args.workers} workers per candidate server, {os.cpu_count()} CPUs; ratios against the reference row "
        f"(echo under gunicorn sync x4); RSS per worker after the phase; CPU columns in cores"
    )
    headers = ["server", "phase", "req/s", "recharges/s", "vs ref", "p50 ms", "p99 ms", "p99/p50", "ok", "402", "errors",
               "RSS MiB", "cpu server", "cpu postgres", "cpu generator", "cpu other"]  # fmt: skip
    print(render_table(headers, rows, align_left=2))
    return problems


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _rate(result: Result | None) -> float | None:
    """Requests per second, recharges per second for a batch phase."""
    return result.recharges_per_second if result else None


def cpu_ms(result: Result | None, part: str) -> float | None:
    """CPU milliseconds per request of one part (cores / rate)."""
    if result is None or result.cpu.get(part) is None:
        return None
    return _ratio(1000 * result.cpu[part], result.rate)


def ceiling(spread: Result, reference: Result) -> float | None:
    """The spread / ref ratio a spread sale could reach if it cost the
    reference's CPU per request plus only its own PostgreSQL work: the CPUs
    are shared, so no speed-up of the sale's Python can pass it."""
    parts = [cpu_ms(reference, part) or 0.0 for part in ("server", "postgres", "generator")]
    return _ratio(sum(parts), sum(parts) + (cpu_ms(spread, "postgres") or 0.0))


def postgres_ms_per_sale(result: Result) -> float | None:
    """PostgreSQL CPU seconds over the transactions pgbench processed, in ms."""
    seconds = result.cpu_seconds.get("postgres")
    return _ratio(None if seconds is None else 1000 * seconds, result.statuses.get("2xx"))


def baseline_ratios(baseline: list[Result]) -> list[float | None]:
    """HEAD's PostgreSQL CPU per sale over the baseline's, for each A/B pair."""
    pairs = zip(baseline[::2], baseline[1::2], strict=True)
    return [_ratio(postgres_ms_per_sale(new), postgres_ms_per_sale(old)) for old, new in pairs]


def tail_ratio(result: Result) -> float | None:
    return _ratio(result.p99_ms, result.p50_ms)


def tail_ratios(pair: tuple[Result, Result]) -> tuple[float | None, float | None]:
    return tail_ratio(pair[0]), tail_ratio(pair[1])


def sale_and_echo_tails(tails: list[Result]) -> list[tuple[Result, Result]]:
    """Each tail run of the sale with the echo run that followed it."""
    sales = [r for r in tails if not r.phase.key.startswith("tail-echo-")]
    echoes = [r for r in tails if r.phase.key.startswith("tail-echo-")]
    return list(zip(sales, echoes, strict=True))


def print_tails(tails: list[Result]) -> None:
    if not tails:
        return
    print()
    print(f"Tail runs of the spread sale under {tails[0].server}, one after the other, each followed by the echo's:")
    headers = ["connections", "run", "req/s", "p50 ms", "p99 ms", "p99/p50", "echo req/s", "echo p99/p50"]
    rows = [
        [sale.phase.connections, sale.phase.key.rsplit("-", 1)[1], f"{sale.rate:.0f}", _fmt(sale.p50_ms),
         _fmt(sale.p99_ms), _fmt(tail_ratio(sale), ".2f"), f"{echo.rate:.0f}", _fmt(tail_ratio(echo), ".2f")]
        for sale, echo in sale_and_echo_tails(tails)
    ]  # fmt: skip
    print(render_table(headers, rows))


def print_baseline(args, baseline: list[Result]) -> None:
    if not baseline:
        return
    print()
    print(
        f"PostgreSQL CPU per sale, {args.baseline_commit} against HEAD, alternately in one run: pgbench over "
        f"{args.sellers} sellers at {args.connections} clients, {args.duration:g} s each"
    )
    headers = ["round", "commit", "tx/s", "PG CPU ms per sale"]
    rows = [
        [index // 2 + 1, r.phase.title, f"{r.rate:.0f}", _fmt(postgres_ms_per_sale(r), ".3f")]
        for index, r in enumerate(baseline)
    ]
    print(render_table(headers, rows, align_left=2))
    verdicts = [
        "n/a" if ratio is None else f"{ratio:.2f} {'PASS' if ratio <= CPU_PER_SALE_TARGET else 'FAIL'}"
        for ratio in baseline_ratios(baseline)
    ]
    print(
        f"HEAD / {args.baseline_commit} <= {CPU_PER_SALE_TARGET}: "
        + ", ".join(f"pair {index}: {verdict}" for index, verdict in enumerate(verdicts, 1))
    )


def check_targets(args, results: list[Result], tails: list[Result], baseline: list[Result]) -> bool:
    """Prints the issue's targets with PASS/FAIL (or n/a): PostgreSQL's, then
    each candidate server's; returns True if one of PostgreSQL's or the
    default server's failed."""
    reference = _reference(results)
    by_key = {(r.server, r.phase.key): r for r in results}
    pgbench, pgbench_hot = by_key.get(("", "pgbench")), by_key.get(("", "pgbench-hot"))
    servers = list(dict.fromkeys(r.server for r in results if r.server and r.server != REFERENCE.key))
    rows: list[list] = []
    failed = False

    def check(scope: str, target: str, value: float | None, ok: Callable[[float], bool], shown: str = "") -> None:
        nonlocal failed
        if value is None:
            rows.append([scope, target, "n/a"])
            return
        rows.append([scope, target, f"{shown or format(value, '.2f')} {'PASS' if ok(value) else 'FAIL'}"])
        failed |= not ok(value) and scope in ("PostgreSQL", DEFAULT_CANDIDATE)

    if baseline:
        ratios = baseline_ratios(baseline)
        worst = None if None in ratios else max(ratio for ratio in ratios if ratio is not None)
        shown = ", ".join(_fmt(ratio, ".2f") for ratio in ratios)
        target = f"CPU per sale, HEAD / {args.baseline_commit} <= {CPU_PER_SALE_TARGET} in both A/B pairs"
        check("PostgreSQL", target, worst, lambda v: v <= CPU_PER_SALE_TARGET, shown)
    hot_sql = _ratio(_rate(pgbench_hot), _rate(pgbench))
    check("PostgreSQL", f"pgbench {args.hot} hot / {args.sellers} sellers >= 0.6", hot_sql, lambda v: v >= 0.6)
    for server in servers:
        spread, echo = by_key.get((server, "recharge")), by_key.get((server, "echo"))
        hot, batch = by_key.get((server, "hot")), by_key.get((server, "batch"))
        hot_http = _ratio(_rate(hot), _rate(spread))
        share = (
            _ratio(_ratio(spread.rate, reference.rate), ceiling(spread, reference)) if spread and reference else None
        )
        python = _ratio(cpu_ms(spread, "server"), cpu_ms(echo, "server"))
        batch_ratio = _ratio(_rate(batch), _rate(pgbench))
        check(server, f"HTTP {args.hot} hot / {args.sellers} sellers >= 0.9", hot_http, lambda v: v >= 0.9)
        check(server, "HTTP sale / its ceiling >= 0.85", share, lambda v: v >= 0.85)
        check(server, "server CPU per sale / per echo <= 1.25", python, lambda v: v <= 1.25)
        check(server, "batch recharges/s / pgbench tx/s >= 3", batch_ratio, lambda v: v >= 3)
    for connections in TAIL_CONNECTIONS:
        runs = [pair for pair in sale_and_echo_tails(tails) if pair[0].phase.connections == connections]
        if runs:
            good = sum(sale_ratio is not None and sale_ratio <= 1.5 for sale_ratio, _ in map(tail_ratios, runs))
            echo_good = sum(echo_ratio is not None and echo_ratio <= 1.5 for _, echo_ratio in map(tail_ratios, runs))
            target = f"spread p99/p50 <= 1.5 in all runs but one at {connections} conn."
            shown = f"{good} of {len(runs)} (the echo: {echo_good})"
            check(tails[0].server, target, len(runs) - good, lambda v: v <= 1, shown)
    print()
    print(f"Targets (issue 23; default server: {DEFAULT_CANDIDATE}):")
    print(render_table(["scope", "target", "value"], rows, align_left=2))
    return failed


def print_limits_cost(results: list[Result]) -> None:
    """The sale with a commission rate and all three limits next to the sale
    with none, spread and hot, under the same server: ratios of throughput
    and latency (1.00: v1.2's work costs nothing)."""
    by_phase = {(r.server, r.phase.key): r for r in results}
    rows = []
    for server, plain_key in dict.fromkeys((r.server, r.phase.key.removesuffix("-limits")) for r in results):
        plain, limited = by_phase.get((server, plain_key)), by_phase.get((server, f"{plain_key}-limits"))
        if plain is None or limited is None or plain_key == limited.phase.key:
            continue
        rows.append(
            [
                server,
                plain.phase.title,
                f"{plain.rate:.0f}",
                f"{limited.rate:.0f}",
                f"{limited.rate / plain.rate:.2f}" if plain.rate else "n/a",
                f"{_fmt(plain.p50_ms)} / {_fmt(limited.p50_ms)}",
                f"{_fmt(plain.p99_ms)} / {_fmt(limited.p99_ms)}",
            ]
        )
    if not rows:
        return
    print()
    print(
        f"Sale with a commission rate ({COMMISSION_RATE} bp) and all three limits (never reached) vs none, "
        "same server, same sellers:"
    )
    headers = ["server", "phase (without)", "req/s without", "req/s with", "with / without", "p50 ms", "p99 ms"]
    print(render_table(headers, rows, align_left=2))


def print_cpu_per_request(results: list[Result]) -> None:
    """CPU milliseconds per request (cores / rate) by part, for the echoes and
    the spread sales, with each spread sale's ceiling."""
    reference = _reference(results)
    if reference is None or not reference.rate:
        return
    rows = []
    for result in results:
        if result.phase.key not in ("echo", "recharge") or not result.rate:
            continue
        ms = [cpu_ms(result, part) or 0.0 for part in ("server", "postgres", "generator")]
        limit = ceiling(result, reference) if result.phase.key == "recharge" else None
        rows.append(
            [result.server, result.phase.title, *(f"{v:.2f}" for v in ms), f"{sum(ms):.2f}", _fmt(limit, ".2f")]
        )
    print()
    print("CPU per request (ms): cores used / requests per second")
    headers = ["server", "phase", "server", "postgres", "generator", "total", "spread / ref ceiling"]
    print(render_table(headers, rows, align_left=2))


def result_dict(result: Result) -> dict:
    return {
        "server": result.server,
        "rss_mib_per_worker": result.rss_mib,
        "phase": result.phase.key,
        "title": result.phase.title,
        "rate": result.rate,
        "recharges_per_second": result.recharges_per_second,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "statuses": result.statuses,
        "socket_errors": result.errors,
        "connections": result.phase.connections,
        "cpu_cores": result.cpu,
        "cpu_seconds": result.cpu_seconds,
    }


if __name__ == "__main__":
    sys.exit(main())
