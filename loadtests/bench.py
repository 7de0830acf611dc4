"""`make bench`: how close the recharge path comes to its two ceilings, the
framework and the database, in one run against one server configuration.

    .venv/bin/python -m loadtests.bench [--connections 32|64] [--duration 10] ...

One gunicorn (`gunicorn -c gunicorn.conf.py config.wsgi`, settings
`loadtests.bench_settings` = the project's settings plus a bench-only URL) on a
scratch database `bench_<timestamp>_<pid>` seeded with 1,000 sellers, each
funded far beyond what a run can spend. Phases, each after a short warm-up:

  parse          POST /bench/parse/: DRF parses and renders JSON; no auth, no
                 database
  echo           POST /bench/echo/: the same, plus a DRF serializer validating
                 the sale's body (the framework ceiling the targets compare
                 with: the issue's "DRF POST that validates JSON")
  recharge       POST /api/v1/recharges/ as random sellers among 1,000
  recharge hot   the same on 2 sellers (every request contends for 2 rows)
  batch          POST /api/v1/recharge-batches/ with 100 items, 1,000 sellers
  pgbench        `SELECT * FROM sell_recharge(...)` straight on
                 PostgreSQL (the database ceiling), 1,000 sellers, then 2

HTTP phases use wrk (installed with apt-get if missing) and
loadtests/wrk/recharge.lua: a random seller token from the seed file, a unique
Idempotency-Key, random valid mobile numbers, round amounts. pgbench runs the
service's own statement *with* an Idempotency-Key (a fresh UUID) and a request
hash, as every HTTP recharge here does, so both sides do the same database
work: claim the key, debit, write recharge + ledger entry, store the response.

Reports requests/s (recharges/s for batches), p50 and p99, responses by
status, and CPU in cores (CPU seconds / wall seconds) used by gunicorn, by
PostgreSQL, by the load generator and by everything else on the machine, then
checks the targets. Exits 1 if the harness saw errors (5xx, unexpected 4xx,
pgbench failures, ledger not reconciled); with --strict also if a target fails.
Cleans up: stops gunicorn and drops the scratch database (--keep-db keeps it).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.workers import workers
from loadtests import harness
from loadtests.harness import log, render_table

WRK_SCRIPT = harness.BASE_DIR / "loadtests" / "wrk" / "recharge.lua"
PGBENCH_SCRIPT = """\
\\set seller random(:first_seller, :last_seller)
\\set amount 10000 * random(1, 50)
\\set phone random(0, 9999999)
SELECT * FROM sell_recharge(:seller, '+98912' || lpad(:phone::text, 7, '0'), 'mci', :amount, 'pgbench-' || gen_random_uuid(), '{hash}');
""".format(hash="0" * 64)


@dataclass
class Phase:
    key: str
    title: str
    tool: str  # "wrk" or "pgbench"
    sellers: int
    path: str = ""
    items: int = 0


@dataclass
class Result:
    phase: Phase
    rate: float  # requests (or transactions) per second
    p50_ms: float | None
    p99_ms: float | None
    statuses: dict = field(default_factory=dict)
    errors: str = ""
    cpu: dict = field(default_factory=dict)

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
        help="WEB_CONCURRENCY: gunicorn workers (CPUs + 1, as gunicorn.conf.py)",
    )
    parser.add_argument("--port", type=int, default=int(env("BENCH_PORT", "18250")), help="BENCH_PORT (18250)")
    parser.add_argument("--sellers", type=int, default=1000, help="sellers to spread over (1000)")
    parser.add_argument("--hot", type=int, default=2, help="hot sellers (2)")
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
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails, too")
    return parser.parse_args(argv)


def phases(args) -> list[Phase]:
    return [
        Phase("parse", "POST /bench/parse/ (parse only, no database)", "wrk", args.sellers, "/bench/parse/"),
        Phase("echo", "POST /bench/echo/ (validates, no database)", "wrk", args.sellers, "/bench/echo/"),
        Phase("recharge", f"POST /recharges/, {args.sellers} sellers", "wrk", args.sellers, "/api/v1/recharges/"),
        Phase("hot", f"POST /recharges/, {args.hot} hot sellers", "wrk", args.hot, "/api/v1/recharges/"),
        Phase(
            "batch", f"POST /recharge-batches/ x{args.batch_items}, {args.sellers} sellers", "wrk", args.sellers,
            "/api/v1/recharge-batches/", args.batch_items,
        ),
        Phase("pgbench", f"pgbench sell_recharge, {args.sellers} sellers", "pgbench", args.sellers),
        Phase("pgbench-hot", f"pgbench sell_recharge, {args.hot} hot sellers", "pgbench", args.hot),
    ]  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    selected = [phase for phase in phases(args) if not args.only or phase.key in args.only.split(",")]
    wrk = ensure_wrk()
    pgbench = find_pgbench(args.pgbench)
    out = harness.OUT_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    seed_path = out / "seed.json"
    (out / "pgbench-recharge.sql").write_text(PGBENCH_SCRIPT)
    problems: list[str] = []
    with harness.scratch_database("bench", keep=args.keep_db) as database_url:
        env = harness.child_env(database_url)
        harness.prepare(env, sellers=args.sellers, credit=args.credit, seed_path=seed_path)
        first_seller = check_seed(seed_path, args.sellers)
        results = []
        with harness.gunicorn(
            database_url,
            workers=args.workers,
            port=args.port,
            log_path=out / "gunicorn.log",
            DJANGO_SETTINGS_MODULE="loadtests.bench_settings",
        ) as server:
            postgres_pid = harness.postmaster_pid(database_url)
            runner = PhaseRunner(args, wrk, pgbench, server, database_url, seed_path, first_seller, out, postgres_pid)
            for phase in selected:
                results.append(runner.run(phase))
        reconciled = subprocess.run(
            [sys.executable, "manage.py", "reconcile"], cwd=harness.BASE_DIR, env=env, capture_output=True, text=True
        )
        if reconciled.returncode:
            problems.append("manage.py reconcile found ledger problems:\n" + reconciled.stderr[-2000:])
    problems += report(args, results)
    targets_failed = check_targets(args, {result.phase.key: result for result in results})
    (out / "results.json").write_text(json.dumps([result_dict(result) for result in results], indent=1) + "\n")
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


class PhaseRunner:
    def __init__(self, args, wrk, pgbench, server, database_url, seed_path, first_seller, out, postgres_pid):
        self.args, self.wrk, self.pgbench, self.server = args, wrk, pgbench, server
        self.database_url, self.seed_path, self.first_seller, self.out = database_url, seed_path, first_seller, out
        self.postgres_pid = postgres_pid

    def run(self, phase: Phase) -> Result:
        measure = self.wrk_phase if phase.tool == "wrk" else self.pgbench_phase
        if self.args.warmup > 0:
            measure(phase, self.args.warmup, warmup=True)
        log(f"{phase.title}: {self.args.duration:g} s at {self.args.connections} connections")
        with harness.CpuSplit(self.server.process.pid, self.postgres_pid) as cpu:
            result = measure(phase, self.args.duration)
        result.cpu = cpu.cores
        return result

    def wrk_phase(self, phase: Phase, seconds: float, warmup: bool = False) -> Result:
        command = [
            self.wrk, "-t", str(min(self.args.threads, self.args.connections)), "-c", str(self.args.connections),
            "-d", f"{max(1, round(seconds))}s", "--latency", "--timeout", "10s", "-s", str(WRK_SCRIPT), self.server.url,
            "--", str(self.seed_path), str(phase.sellers), phase.path, str(phase.items), uuid.uuid4().hex[:12],
        ]  # fmt: skip
        completed = subprocess.run(command, capture_output=True, text=True)
        if not warmup:
            (self.out / f"wrk-{phase.key}.txt").write_text(completed.stdout + completed.stderr)
        if completed.returncode:
            raise SystemExit(f"wrk failed ({completed.returncode}): {completed.stderr[-1000:]}")
        return parse_wrk(phase, completed.stdout)

    def pgbench_phase(self, phase: Phase, seconds: float, warmup: bool = False) -> Result:
        params = harness.connection_params(self.database_url)
        log_dir = self.out / f"pgbench-log-{phase.key}"
        log_dir.mkdir(exist_ok=True)
        command = [
            self.pgbench, "-n", "-M", "prepared", "-c", str(self.args.connections),
            "-j", str(min(self.args.threads, self.args.connections)), "-T", str(max(1, round(seconds))),
            "-f", str(self.out / "pgbench-recharge.sql"),
            "-D", f"first_seller={self.first_seller}", "-D", f"last_seller={self.first_seller + phase.sellers - 1}",
        ]  # fmt: skip
        if not warmup:
            command += ["-l", f"--log-prefix={log_dir / 'tx'}"]
        for flag, name in (("-h", "host"), ("-p", "port"), ("-U", "user")):
            if params[name]:
                command += [flag, params[name]]
        command.append(params["dbname"])
        env = {**os.environ, **({"PGPASSWORD": params["password"]} if params["password"] else {})}
        completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=self.out)
        if not warmup:
            (self.out / f"pgbench-{phase.key}.txt").write_text(completed.stdout + completed.stderr)
        if completed.returncode:
            raise SystemExit(f"pgbench failed ({completed.returncode}): {completed.stderr[-1000:]}")
        result = parse_pgbench(phase, completed.stdout, sorted(log_dir.glob("tx.*")))
        log_dir.rmdir()
        return result


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


def report(args, results: list[Result]) -> list[str]:
    by_key = {result.phase.key: result for result in results}
    echo = by_key.get("echo")
    rows, problems = [], []
    for result in results:
        phase, statuses = result.phase, result.statuses
        vs_echo = f"{result.rate / echo.rate:.2f}" if echo and phase.tool == "wrk" and echo.rate else ""
        rows.append(
            [
                phase.title,
                f"{result.rate:.0f}",
                f"{result.recharges_per_second:.0f}" if phase.key not in ("echo", "parse") else "",
                vs_echo,
                _fmt(result.p50_ms),
                _fmt(result.p99_ms),
                statuses.get("2xx", 0),
                statuses.get("402", 0) if phase.tool == "wrk" else "",
                statuses.get("4xx", 0) + statuses.get("5xx", 0),
                *(_fmt(result.cpu.get(part), ".2f") for part in ("server", "postgres", "generator", "other")),
            ]
        )
        if statuses.get("5xx") or statuses.get("4xx"):
            problems.append(
                f"{phase.title}: {statuses.get('4xx', 0)} unexpected 4xx, {statuses.get('5xx', 0)} 5xx/failed"
            )
        if statuses.get("402"):
            problems.append(f"{phase.title}: {statuses['402']} x 402 (sellers ran out of credit: raise --credit)")
        if re.search(r"[1-9]", result.errors):
            print(f"note: {phase.title}: wrk socket errors: {result.errors}")
    print()
    print(
        f"Benchmark: {args.connections} connections, {args.duration:g} s per phase, "
        f"gunicorn {args.workers} workers, {os.cpu_count()} CPUs; CPU columns in cores"
    )
    headers = ["phase", "req/s", "recharges/s", "vs echo", "p50 ms", "p99 ms", "ok", "402", "errors",
               "cpu gunicorn", "cpu postgres", "cpu generator", "cpu other"]  # fmt: skip
    print(render_table(headers, rows))
    return problems


def check_targets(args, by_key: dict[str, Result]) -> bool:
    """Prints each target with PASS/FAIL (or n/a); returns True if any failed."""

    def ratio_target(label, numerator, denominator, minimum, unit="req/s"):
        if numerator is None or denominator is None:
            return [label, "n/a (phase not run)", "n/a"]
        ratio = numerator / denominator if denominator else 0.0
        return [
            label,
            f"{numerator:.0f} / {denominator:.0f} {unit} = {ratio:.2f} (need >= {minimum})",
            ratio >= minimum,
        ]

    def rate(key, recharges=False):
        result = by_key.get(key)
        if result is None:
            return None
        return result.recharges_per_second if recharges else result.rate

    rows = [
        ratio_target(
            "recharge (1,000 sellers) >= 0.5 x validating no-database POST", rate("recharge"), rate("echo"), 0.5
        ),
        ratio_target("recharge, 2 hot sellers >= 0.9 x 1,000 sellers", rate("hot"), rate("recharge"), 0.9),
    ]
    recharge = by_key.get("recharge")
    if recharge is None or recharge.p99_ms is None:
        rows.append(["recharge p99 at 32 connections < 100 ms", "n/a (phase not run)", "n/a"])
    elif args.connections != 32:
        rows.append(["recharge p99 at 32 connections < 100 ms", f"n/a (ran at {args.connections} connections)", "n/a"])
    else:
        rows.append(["recharge p99 at 32 connections < 100 ms", f"{recharge.p99_ms:.1f} ms", recharge.p99_ms < 100])
    rows.append(
        ratio_target(
            "batch recharges/s >= 2 x pgbench single-recharge tx/s",
            rate("batch", recharges=True), rate("pgbench"), 2.0, "recharges/s per tx/s",
        )
    )  # fmt: skip
    print()
    print("Targets:")
    verdicts = [
        [label, measured, {True: "PASS", False: "FAIL"}.get(verdict, "n/a")] for label, measured, verdict in rows
    ]
    print(render_table(["target", "measured", "result"], verdicts, align_left=2))
    return any(verdict is False for _, _, verdict in rows)


def result_dict(result: Result) -> dict:
    return {
        "phase": result.phase.key,
        "title": result.phase.title,
        "rate": result.rate,
        "recharges_per_second": result.recharges_per_second,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "statuses": result.statuses,
        "socket_errors": result.errors,
        "cpu_cores": result.cpu,
    }


if __name__ == "__main__":
    sys.exit(main())
