"""Fault injection: `python -m loadtests.chaos [--mode short|long] [options]`.

Starts gunicorn (4 workers by default) on a fresh, migrated database, seeds
sellers, and drives recharges, credit approvals and balance adjustments from
several client processes that behave like point-of-sale terminals: every
operation carries an Idempotency-Key and, on a timeout, a connection error,
a 503 or a 409 idempotency_in_progress, is sent again with the SAME key.
While the load runs it injects, one phase each:

  kill        SIGKILL of random gunicorn workers (gunicorn replaces them);
  restart     a PostgreSQL restart in fast mode (`pg_ctl -D <datadir> restart
              -m fast` for a private/pgserver server, `pg_ctlcluster
              --skip-systemctl-redirect <ver> <cluster> restart -m fast` for the
              machine's service); `--stop-mode immediate` (the long mode's
              default) stops it without waiting for commits in flight, and
              every unanswered request is then retried with its key;
  storm       hundreds of concurrent debits, adjustments and double-tapped
              keys on one hot seller;
  disconnect  clients that send the headers and part or all of the body of a
              recharge and close the socket without reading (some with RST),
              then retry with the same key as a terminal would.

Afterwards it checks, and prints as a table: every 201/200 a client saw has
exactly one ledger entry; at most one recharge (and one adjustment) per
Idempotency-Key; replays returned the first response; reconcile is clean; no
negative balance; every 5xx was 503 with the contract's body and Retry-After
(never a 500, also none logged by the server); the time the service took to
recover after the restart. Exit status 1 on any violation.

Which PostgreSQL: with no --database-url (and no DATABASE_URL) a private
server is created under /tmp and removed afterwards. A DATABASE_URL whose
socket directory is a pgserver data directory is restarted with its pg_ctl;
one on 127.0.0.1/localhost with pg_ctlcluster. Restarting a server the
harness did not create needs --allow-restart: other people's connections
drop too.

Short run (about a minute; what tests/chaos runs, phase by phase):
    .venv/bin/python -m loadtests.chaos --mode short
Long run, for operators (about 10 minutes, more clients, repeated faults):
    .venv/bin/python -m loadtests.chaos --mode long
On the machine's service (a dedicated machine only):
    DATABASE_URL=postgres://postgres:...@127.0.0.1:5432/postgres \\
        .venv/bin/python -m loadtests.chaos --mode long --allow-restart
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import requests

from loadtests.server import ApiServer, database_facts, postgres_for, seed

PHASES = ("kill", "restart", "storm", "disconnect")
RECHARGE = "/api/v1/recharges/"


@dataclass
class ChaosConfig:
    phases: tuple = PHASES
    warmup_seconds: float = 2.0
    phase_seconds: float = 6.0
    cooldown_seconds: float = 2.0
    clients: int = 3  # client processes of steady traffic
    workers: int = 4  # gunicorn workers
    sellers_per_client: int = 3
    credit: int = 50_000_000  # rials each seeded seller starts with
    kill_interval: float = 1.0  # seconds between worker SIGKILLs
    restarts: int = 1  # PostgreSQL restarts in the restart phase
    outage_seconds: float = 0.0  # 0: `restart -m <stop_mode>`; else stop -m <stop_mode>, stay down this long, start
    # immediate: PostgreSQL stops without waiting for commits in flight, so a
    # client may lose the answer to a commit that happened (issue 10, item 1).
    stop_mode: str = "fast"
    storm_requests: int = 300
    storm_threads: int = 100
    disconnects: int = 60
    request_timeout: float = 10.0
    op_deadline: float = 30.0  # a terminal gives up on an operation after this long
    database_url: str | None = None
    data_dir: str | None = None
    allow_restart: bool = False
    keep_database: bool = False
    random_seed: int = 0
    out_dir: str | None = None


PRESETS = {
    "short": ChaosConfig(),
    "long": ChaosConfig(
        warmup_seconds=10,
        phase_seconds=120,
        cooldown_seconds=15,
        clients=6,
        sellers_per_client=5,
        kill_interval=3.0,
        restarts=4,
        outage_seconds=3.0,
        stop_mode="immediate",
        storm_requests=3000,
        storm_threads=300,
        disconnects=600,
    ),
}


# --- client side (runs in spawned processes) -------------------------------------


def _headers(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Token {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def _classify(response) -> dict:
    """One attempt's outcome: status, error code, replayed, and for 5xx
    whether it is the contract's 503 (service_unavailable body + Retry-After)."""
    outcome = {"status": response.status_code}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        outcome["code"] = body["error"].get("code")
        details = body["error"].get("details")
        if isinstance(details, dict) and "outcome" in details:
            outcome["outcome"] = details["outcome"]
    if response.headers.get("Idempotent-Replayed") == "true":
        outcome["replayed"] = True
    if isinstance(body, dict) and 200 <= response.status_code < 300:
        outcome["id"] = body.get("id")
        if "status" in body:
            outcome["state"] = body["status"]
    if response.status_code >= 500:
        outcome["contract_503"] = (
            response.status_code == 503
            and outcome.get("code") == "service_unavailable"
            and bool(response.headers.get("Retry-After"))
            and outcome.get("outcome") in ("not_written", "unknown")
        )
        if not outcome["contract_503"]:
            outcome["body"] = response.text[:300]
            outcome["retry_after"] = response.headers.get("Retry-After")
    return outcome


def _retriable(outcome: dict) -> bool:
    status = outcome.get("status")
    return status is None or status >= 500 or outcome.get("code") == "idempotency_in_progress"


class Terminal:
    """Sends one operation until it gets a final answer, with the same key."""

    def __init__(self, base_url: str, phase, config: dict, rng: random.Random):
        self.base_url = base_url
        self.phase = phase
        self.timeout = config["request_timeout"]
        self.deadline = config["op_deadline"]
        self.rng = rng

    def send(self, method: str, path: str, token: str, body: dict | None = None, key: str | None = None) -> dict:
        op = {"path": path, "key": key, "body": body, "attempts": []}
        started = time.monotonic()
        for attempt in range(60):
            sent = time.time()
            phase = PHASES_ALL[self.phase.value]
            try:
                response = requests.request(
                    method, self.base_url + path, json=body, headers=_headers(token, key), timeout=(3, self.timeout)
                )
                outcome = _classify(response)
                retry_after = _float(response.headers.get("Retry-After"))
            except requests.Timeout:
                outcome, retry_after = {"status": None, "error": "timeout"}, None
            except requests.ConnectionError as error:
                outcome, retry_after = {"status": None, "error": "connection", "detail": type(error).__name__}, None
            except requests.RequestException as error:  # e.g. the body cut short by a killed worker
                outcome, retry_after = (
                    {"status": None, "error": "broken response", "detail": type(error).__name__},
                    None,
                )
            outcome.update(sent=sent, done=time.time(), phase=phase)
            op["attempts"].append(outcome)
            if not _retriable(outcome) or time.monotonic() - started > self.deadline:
                break
            pause = min(retry_after if retry_after is not None else 0.05 * 2**attempt, 1.0)
            time.sleep(pause * self.rng.uniform(0.5, 1.0))
        op["final"] = op["attempts"][-1]
        return op


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


PHASES_ALL = ("warmup", *PHASES, "cooldown")


def _phone(rng: random.Random) -> str:
    return f"0912{rng.randrange(10**7):07d}"


def steady_client(name: str, base_url: str, sellers: list[dict], staff_token: str, config: dict, phase, stop, out: str):
    """A pool of terminals: recharges (most), credit requests + approvals,
    and staff adjustments, until `stop` is set."""
    rng = random.Random(f"{config['random_seed']}-{name}")
    terminal = Terminal(base_url, phase, config, rng)
    ops = []
    number = 0
    while not stop.is_set() and len(ops) < 100_000:
        number += 1
        seller = rng.choice(sellers)
        key = f"{name}-{number}-{uuid.uuid4().hex[:8]}"
        roll = rng.random()
        if roll < 0.86:
            body = {"phone_number": _phone(rng), "amount": rng.randrange(1000, 5001, 1000)}
            op = terminal.send("POST", RECHARGE, seller["token"], body, key)
            op.update(kind="recharge", seller_id=seller["seller_id"])
        elif roll < 0.93:
            body = {"amount": rng.randrange(10_000, 100_001, 10_000)}
            op = terminal.send("POST", "/api/v1/credit-requests/", seller["token"], body, key)
            op.update(kind="credit_request", seller_id=seller["seller_id"])
            credit_request_id = op["final"].get("id") if op["final"].get("status") == 201 else None
            if credit_request_id:
                ops.append(op)
                op = terminal.send("POST", f"/api/v1/credit-requests/{credit_request_id}/approve/", staff_token)
                op.update(
                    kind="approve",
                    seller_id=seller["seller_id"],
                    credit_request_id=credit_request_id,
                    amount=body["amount"],
                )
        else:
            amount = rng.choice([1, 1, -1]) * rng.randrange(100, 1001, 100)
            body = {"amount": amount, "reason": f"chaos {key}"}
            op = terminal.send("POST", f"/api/v1/sellers/{seller['seller_id']}/adjustments/", staff_token, body, key)
            op.update(kind="adjustment", seller_id=seller["seller_id"])
        ops.append(op)
    _write(out, ops)


def storm_client(name: str, base_url: str, hot: dict, staff_token: str, config: dict, phase, out: str, jobs: list):
    """Threads that fire `jobs` at one hot seller all at once."""
    rng = random.Random(f"{config['random_seed']}-{name}")
    ops, lock = [], threading.Lock()
    queue = list(jobs)
    gate = threading.Barrier(config["storm_threads"])

    def worker(index: int):
        terminal = Terminal(base_url, phase, config, random.Random(f"{name}-{index}"))
        try:
            gate.wait(30)
        except threading.BrokenBarrierError:
            pass
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
            if job["kind"] == "recharge":
                op = terminal.send("POST", RECHARGE, hot["token"], job["body"], job["key"])
            else:
                op = terminal.send(
                    "POST", f"/api/v1/sellers/{hot['seller_id']}/adjustments/", staff_token, job["body"], job["key"]
                )
            op.update(kind=job["kind"], seller_id=hot["seller_id"], storm=True, double_tap=job.get("double_tap", False))
            with lock:
                ops.append(op)

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(config["storm_threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(config["op_deadline"] * 4)
    del rng
    _write(out, ops)


def disconnect_client(name: str, base_url: str, sellers: list[dict], config: dict, phase, out: str):
    """Raw sockets: headers and part or all of a recharge's body, then close
    without reading (half of the complete ones with RST). Then each key is
    retried over HTTP, as a terminal that lost the answer would."""
    rng = random.Random(f"{config['random_seed']}-{name}")
    host, port = base_url.removeprefix("http://").split(":")
    ops = []
    kinds = ("partial", "complete", "complete_rst", "headers_only")
    for number in range(config["disconnects"]):
        seller = sellers[number % len(sellers)]
        kind = kinds[number % len(kinds)]
        key = f"{name}-{number}-{uuid.uuid4().hex[:8]}"
        body = {"phone_number": _phone(rng), "amount": rng.randrange(1000, 5001, 1000)}
        raw = json.dumps(body).encode()
        head = (
            f"POST {RECHARGE} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Token {seller['token']}\r\n"
            f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
        ).encode()
        payload = {"partial": head + raw[: len(raw) // 2], "headers_only": head}.get(kind, head + raw)
        sent = time.time()
        error = None
        try:
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(payload)
                if kind == "complete_rst":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError as exc:
            error = type(exc).__name__
        ops.append(
            {
                "kind": "disconnect",
                "how": kind,
                "key": key,
                "body": body,
                "seller": seller,
                "sent": sent,
                "error": error,
            }
        )
        time.sleep(rng.uniform(0, 0.02))
    time.sleep(0.5)  # let the server finish what it received
    terminal = Terminal(base_url, phase, config, rng)
    results = []
    for op in ops:
        seller = op.pop("seller")
        retry = terminal.send("POST", RECHARGE, seller["token"], op["body"], op["key"])
        retry.update(kind="recharge", seller_id=seller["seller_id"], disconnect=op["how"], socket_error=op["error"])
        results.append(retry)
    _write(out, results)


def _write(path: str, ops: list) -> None:
    Path(path).write_text(json.dumps(ops))


# --- the run ------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    config: dict
    operations: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    money: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)  # phase -> Counter of outcome labels
    recovery: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    bad_responses: list = field(default_factory=list)
    server_errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def violations(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def table(self) -> str:
        return render(self)


class Run:
    """One chaos run: set up, load + faults, checks."""

    def __init__(self, config: ChaosConfig, log=print, postgres=None):
        self.config = config
        self.postgres = postgres  # a running server to use (tests); else one is chosen from the config
        self.log = log
        self.report = Report(config=asdict(config))
        self.ctx = multiprocessing.get_context("spawn")
        self.phase = self.ctx.Value("i", 0)
        self.stop = self.ctx.Event()
        self.events: list[tuple] = []  # (time, what)
        self.children: list = []
        self.stopped_at: float | None = None
        self.log_marks: dict[str, int] = {}

    def execute(self) -> Report:
        config = self.config
        pg = self.postgres or postgres_for(
            config.database_url or os.environ.get("DATABASE_URL"), data_dir=config.data_dir
        )
        owned = self.postgres is None and pg.private
        if "restart" in config.phases and not pg.private and pg.restartable and not config.allow_restart:
            raise SystemExit(
                f"The restart phase would restart {pg.url()} (not created by this run). Pass --allow-restart if that "
                "server is yours alone, or leave out the restart phase (--phases)."
            )
        if "restart" in config.phases and not pg.restartable:
            raise SystemExit("This PostgreSQL cannot be restarted by the harness; leave out the restart phase.")
        work = Path(config.out_dir or tempfile.mkdtemp(prefix="chaos-run-"))
        work.mkdir(parents=True, exist_ok=True)
        if owned:
            pg.start()
        database_name = f"chaos_{uuid.uuid4().hex[:10]}"
        try:
            url = pg.fresh_database(database_name)
            self.log(f"database {url}")
            self._run(pg, url, work)
        finally:
            if not config.keep_database:
                try:
                    pg.drop_database(database_name)
                except Exception as error:  # noqa: BLE001 - cleanup must not hide the run's result
                    self.log(f"could not drop {database_name}: {error}")
            if owned:
                pg.stop()
            if not config.out_dir:
                shutil.rmtree(work, ignore_errors=True)
        return self.report

    def _run(self, pg, url: str, work: Path) -> None:
        config = self.config
        steady_sellers = config.clients * config.sellers_per_client
        seeded = seed(url, sellers=steady_sellers + 2, credit=config.credit)
        hot, disconnect_seller = seeded.sellers[-2], seeded.sellers[-1]
        cfg = asdict(config)
        with ApiServer(url, workers=config.workers, log_path=work / "gunicorn.log") as api:
            self.api = api
            self.log(f"gunicorn {api.url} workers {api.worker_pids()}")
            clients, self.children = [], []
            try:
                self._load_and_faults(pg, api, work, seeded, hot, disconnect_seller, cfg, clients)
            finally:
                self.stop.set()
                for process in self.children:  # only the processes this run started
                    process.join(
                        max(1.0, config.op_deadline + 30 - (time.monotonic() - self.stopped_at))
                        if self.stopped_at
                        else 1
                    )
                    if process.is_alive():
                        process.terminate()
                        process.join(5)
            ops, lost = [], []
            for process, out in clients:
                if Path(out).exists():
                    ops += json.loads(Path(out).read_text())
                else:
                    lost.append(f"{Path(out).stem} (exit {process.exitcode})")
            self._add(
                "every client process reported",
                not lost,
                f"{len(clients)} processes" + (f"; NO RECORDS: {lost}" if lost else ""),
            )
            api.wait_healthy(30)
            self._scan_log(api)
        facts = database_facts(url)
        self._check(ops, facts, seeded, hot)

    def _load_and_faults(self, pg, api, work, seeded, hot, disconnect_seller, cfg, clients) -> None:
        config = self.config
        for index in range(config.clients):
            mine = seeded.sellers[index * config.sellers_per_client : (index + 1) * config.sellers_per_client]
            out = str(work / f"steady-{index}.json")
            process = self.ctx.Process(
                target=steady_client,
                args=(f"c{index}", api.url, mine, seeded.staff_token, cfg, self.phase, self.stop, out),
            )
            self._start_child(process)
            clients.append((process, out))
        self._phase("warmup", config.warmup_seconds)
        extra = []
        for name in config.phases:
            extra += (
                getattr(self, f"_inject_{name}")(pg, api, work, hot, disconnect_seller, seeded.staff_token, cfg) or []
            )
        self._phase("cooldown", config.cooldown_seconds)
        self.stopped_at = time.monotonic()
        self.stop.set()
        clients += extra

    def _start_child(self, process) -> None:
        process.daemon = True  # never outlives the harness
        process.start()
        self.children.append(process)

    # --- phases ---

    def _phase(self, name: str, seconds: float) -> None:
        self.phase.value = PHASES_ALL.index(name)
        self.log_marks[name] = self.api.log_size()
        self.events.append((time.time(), f"{name} start"))
        self.log(f"phase {name} ({seconds:.0f} s)")
        time.sleep(seconds)

    def _enter(self, name: str) -> None:
        self.phase.value = PHASES_ALL.index(name)
        self.log_marks[name] = self.api.log_size()
        self.events.append((time.time(), f"{name} start"))
        self.log(f"phase {name}")

    def _inject_kill(self, pg, api, work, *args):
        self._enter("kill")
        killed = []
        end = time.monotonic() + self.config.phase_seconds
        while time.monotonic() < end:
            time.sleep(self.config.kill_interval * random.uniform(0.5, 1.5))
            pid = api.kill_worker()
            if pid:
                killed.append(pid)
        recovered = api.wait_healthy(60, workers=self.config.workers)
        self.report.faults["workers SIGKILLed"] = (
            f"{len(killed)} (all {self.config.workers} back {recovered:.1f} s after the last)"
        )

    def _inject_restart(self, pg, api, work, *args):
        self._enter("restart")
        config = self.config
        slot = config.phase_seconds / (config.restarts + 1)
        restarts = []
        for _ in range(config.restarts):
            time.sleep(slot / 2)
            began = time.time()
            # The long mode alternates a plain restart with a longer outage.
            down = config.outage_seconds if (len(restarts) % 2 or config.restarts == 1) else 0
            took = pg.outage(down, config.stop_mode) if down else pg.restart(config.stop_mode)
            restarts.append({"began": began, "pg_ctl_seconds": took, "down": down})
            self.log(f"  PostgreSQL {'down ' + str(down) + ' s' if down else 'restarted'} (took {took:.2f} s)")
            time.sleep(slot / 2)
        time.sleep(max(0.0, config.phase_seconds - slot * config.restarts))
        self.restarts = restarts
        self.report.faults["PostgreSQL restarts"] = f"{len(restarts)} via {type(pg).__name__}; down for " + ", ".join(
            f"{r['pg_ctl_seconds']:.2f} s"
            + (f" (stop -m {config.stop_mode}, wait, start)" if r["down"] else f" (restart -m {config.stop_mode})")
            for r in restarts
        )

    def _inject_storm(self, pg, api, work, hot, disconnect_seller, staff_token, cfg):
        self._enter("storm")
        config = self.config
        rng = random.Random(config.random_seed)
        # Enough debits to drain the hot seller by about half again: some end in 402.
        amount = max(1000, int(config.credit * 1.5 / max(1, config.storm_requests)) // 1000 * 1000)
        jobs = []
        while len(jobs) < config.storm_requests:
            key = f"storm-{len(jobs)}-{uuid.uuid4().hex[:8]}"
            if rng.random() < 0.05:
                body = {"amount": rng.choice([1, -1]) * 50_000, "reason": f"chaos {key}"}
                jobs.append({"kind": "adjustment", "key": key, "body": body})
                continue
            job = {"kind": "recharge", "key": key, "body": {"phone_number": _phone(rng), "amount": amount}}
            if rng.random() < 0.1:  # a double tap: the same request twice at once
                jobs += [dict(job, double_tap=True), dict(job, double_tap=True)]
            else:
                jobs.append(job)
        processes = []
        threads = max(1, config.storm_threads // 2)
        for index in range(2):
            out = str(work / f"storm-{index}.json")
            process = self.ctx.Process(
                target=storm_client,
                args=(
                    f"s{index}",
                    api.url,
                    hot,
                    staff_token,
                    dict(cfg, storm_threads=threads),
                    self.phase,
                    out,
                    jobs[index::2],
                ),
            )
            self._start_child(process)
            processes.append((process, out))
        started = time.monotonic()
        for process, _ in processes:
            process.join(config.phase_seconds + config.op_deadline * 4)
        self.report.faults["lock storm"] = (
            f"{len(jobs)} requests on seller {hot['seller_id']} from {threads * 2} threads, "
            f"{amount} IRR each, done in {time.monotonic() - started:.1f} s"
        )
        rest = config.phase_seconds - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)
        return processes

    def _inject_disconnect(self, pg, api, work, hot, disconnect_seller, staff_token, cfg):
        self._enter("disconnect")
        out = str(work / "disconnect.json")
        process = self.ctx.Process(
            target=disconnect_client, args=("d", api.url, [disconnect_seller], cfg, self.phase, out)
        )
        self._start_child(process)
        started = time.monotonic()
        process.join(self.config.phase_seconds + self.config.op_deadline * 2)
        healthy = api.wait_healthy(30, workers=self.config.workers)
        self.report.faults["client disconnects"] = (
            f"{self.config.disconnects} raw sockets (partial body, complete, complete+RST, headers only); "
            f"healthy {healthy:.1f} s after"
        )
        rest = self.config.phase_seconds - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)
        return [(process, out)]

    def _scan_log(self, api) -> None:
        text = api.log_text()
        marks = sorted(self.log_marks.items(), key=lambda item: item[1])
        for pattern in (r"Internal Server Error: .*", r"Error handling request.*", r"WORKER TIMEOUT.*", r"Traceback"):
            for match in re.finditer(pattern, text):
                phase = next((name for name, offset in reversed(marks) if offset <= match.start()), "setup")
                context = text[match.start() : match.start() + 1200]
                exception = re.findall(r"\n(\w[\w.]*(?:Error|Exception|Exit)[^\n]*)", context)
                self.report.server_errors.append(
                    {"phase": phase, "line": match.group(0)[:200], "exception": exception[:1]}
                )

    # --- checks ---

    def _check(self, ops: list, facts: dict, seeded, hot) -> None:
        recharges = {row[0]: row for row in facts["recharges"]}
        entries = {
            "recharge": dict(map(tuple, facts["entries_per_recharge"])),
            "adjustment": dict(map(tuple, facts["entries_per_adjustment"])),
            "approve": dict(map(tuple, facts["entries_per_credit_request"])),
        }
        # Every success a client saw has exactly one ledger entry (and the row is the one it asked for).
        seen_ok, missing = Counter(), []
        for op in ops:
            kind, final = op["kind"], op["final"]
            if kind == "recharge" and final.get("status") == 201:
                seen_ok[kind] += 1
                row = recharges.get(final.get("id"))
                if (
                    entries["recharge"].get(final.get("id")) != 1
                    or row is None
                    or row[2] != op["body"]["amount"]
                    or row[3] != op["key"]
                ):
                    missing.append((kind, final.get("id"), op["key"]))
            elif kind == "adjustment" and final.get("status") == 201:
                seen_ok[kind] += 1
                if entries["adjustment"].get(final.get("id")) != 1:
                    missing.append((kind, final.get("id"), op["key"]))
            elif kind == "approve" and final.get("status") == 200 and final.get("state") == "approved":
                seen_ok[kind] += 1
                if entries["approve"].get(op["credit_request_id"]) != 1:
                    missing.append((kind, op["credit_request_id"], None))
        self._add(
            "every 2xx has exactly one ledger entry",
            not missing,
            f"{sum(seen_ok.values())} checked ({', '.join(f'{k} {v}' for k, v in sorted(seen_ok.items()))})"
            + (f"; WRONG: {missing[:5]}" if missing else ""),
        )
        # No recharge debited twice: at most one recharge per (seller, key); each recharge has one entry.
        per_key = Counter((row[1], row[3]) for row in facts["recharges"] if row[3])
        twice = [key for key, count in per_key.items() if count > 1]
        no_entry = [rid for rid, count in entries["recharge"].items() if count != 1]
        unkeyed = sum(1 for row in facts["recharges"] if not row[3])
        self._add(
            "at most one recharge per Idempotency-Key",
            not twice and not no_entry and not unkeyed,
            f"{len(per_key)} keys, {len(facts['recharges'])} recharges"
            + (f"; TWICE: {twice[:5]}" if twice else "")
            + (f"; recharges without exactly one entry: {no_entry[:5]}" if no_entry else ""),
        )
        adjustment_keys = Counter(row[3] for row in facts["adjustments"] if row[3].startswith("chaos "))
        applied_twice = [reason for reason, count in adjustment_keys.items() if count > 1]
        self._add(
            "at most one adjustment per Idempotency-Key",
            not applied_twice,
            f"{len(adjustment_keys)} keys" + (f"; APPLIED TWICE: {applied_twice[:5]}" if applied_twice else ""),
        )
        # Replays give the first response: every 2xx for one key names the same recharge.
        inconsistent = []
        for op in ops:
            ids = {a.get("id") for a in op["attempts"] if a.get("status") in (200, 201) and op["kind"] == "recharge"}
            if len(ids) > 1:
                inconsistent.append(op["key"])
        double_taps = defaultdict(set)
        for op in ops:
            if op.get("double_tap") and op["final"].get("status") == 201:
                double_taps[op["key"]].add(op["final"].get("id"))
        inconsistent += [key for key, ids in double_taps.items() if len(ids) > 1]
        self._add(
            "replays return the first response",
            not inconsistent,
            f"{sum(1 for op in ops if any(a.get('replayed') for a in op['attempts']))} replayed, "
            f"{len(double_taps)} double taps" + (f"; DIFFERENT: {inconsistent[:5]}" if inconsistent else ""),
        )
        self._add(
            "reconcile clean",
            not facts["reconcile"],
            json.dumps(facts["reconcile"][:5]) if facts["reconcile"] else "0 problems",
        )
        balances = [row[1] for row in facts["sellers"]]
        self._add(
            "no negative balance", min(balances) >= 0, f"min balance {min(balances)} over {len(balances)} sellers"
        )
        # Every 5xx is the contract's 503.
        attempts = [a for op in ops for a in op["attempts"]]
        bad = [a for a in attempts if (a.get("status") or 0) >= 500 and not a.get("contract_503")]
        self.report.bad_responses = [
            {"phase": a["phase"], "status": a["status"], "body": a.get("body"), "retry_after": a.get("retry_after")}
            for a in bad[:20]
        ]
        good_503 = sum(1 for a in attempts if a.get("contract_503"))
        self._add(
            "every 5xx is 503 service_unavailable + Retry-After + details.outcome",
            not bad,
            f"{good_503} contract 503s"
            + (f"; {len(bad)} OTHER 5xx, first: {self.report.bad_responses[:2]}" if bad else ", 0 other 5xx"),
        )
        # A 503 with outcome not_written promises nothing was written: the same key
        # must not later replay a success (outcome unknown promises nothing).
        broken_promises = []
        for op in ops:
            for earlier, later in zip(op["attempts"], op["attempts"][1:]):
                promised = earlier.get("contract_503") and earlier.get("outcome") == "not_written"
                if promised and later.get("replayed") and later.get("status") in (200, 201):
                    broken_promises.append(op["key"])
        self._add(
            "a not_written 503 wrote nothing (no later replay of a success)",
            not broken_promises,
            f"{len(broken_promises)} broken" + (f": {broken_promises[:5]}" if broken_promises else ""),
        )
        server_500s = [e for e in self.report.server_errors if not e["line"].startswith("WORKER TIMEOUT")]
        summary = Counter(
            (e["phase"], e["line"][:60], tuple(e["exception"])) for e in server_errors_unique(server_500s)
        )
        self._add(
            "no 500 logged by the server",
            not server_500s,
            f"{len(server_500s)} logged" + (f": {list(summary.items())[:3]}" if server_500s else ""),
        )
        timeouts = [e for e in self.report.server_errors if e["line"].startswith("WORKER TIMEOUT")]
        self._add("no hung worker (gunicorn WORKER TIMEOUT)", not timeouts, f"{len(timeouts)} worker timeouts")
        gave_up = [op for op in ops if op["final"].get("status") is None or _retriable(op["final"])]
        self._add(
            "every operation got a final answer",
            not gave_up,
            f"{len(ops)} operations, {len(gave_up)} gave up after {self.config.op_deadline:.0f} s"
            + (f": {[(op['kind'], op['final']) for op in gave_up[:3]]}" if gave_up else ""),
        )
        self._summaries(ops, attempts, facts, hot)

    def _add(self, name: str, ok: bool, detail: str) -> None:
        self.report.checks.append(Check(name, ok, detail))

    def _summaries(self, ops, attempts, facts, hot) -> None:
        report = self.report
        by_kind = defaultdict(Counter)
        for op in ops:
            label = op.get("disconnect") and f"recharge after disconnect ({op['disconnect']})"
            kind = label or ("storm " + op["kind"] if op.get("storm") else op["kind"])
            by_kind[kind][_label(op["final"])] += 1
            by_kind[kind]["attempts"] += len(op["attempts"])
        report.operations = {kind: dict(counter) for kind, counter in sorted(by_kind.items())}
        statuses = defaultdict(Counter)
        for attempt in attempts:
            statuses[attempt["phase"]][_label(attempt)] += 1
        report.statuses = {phase: dict(statuses[phase]) for phase in PHASES_ALL if phase in statuses}
        credited = sum(row[2] for row in facts["credit_requests"] if row[3] == "approved")
        debited = sum(row[2] for row in facts["recharges"])
        adjusted = sum(row[2] for row in facts["adjustments"])
        acknowledged = {
            op["final"].get("id") for op in ops if op["kind"] == "recharge" and op["final"].get("status") == 201
        }
        report.money = {
            "sellers": len(facts["sellers"]),
            "credited (approved requests)": credited,
            "debited (recharges)": debited,
            "adjusted (net)": adjusted,
            "sum of balances": sum(row[1] for row in facts["sellers"]),
            "credited - debited + adjusted": credited - debited + adjusted,
            "recharges written but never acknowledged": len(set(recharges_ids(facts)) - acknowledged),
            "hot seller balance": next(row[1] for row in facts["sellers"] if row[0] == hot["seller_id"]),
        }
        unacknowledged = report.money["recharges written but never acknowledged"]
        self._add(
            "every recharge written was acknowledged (201) to its terminal",
            unacknowledged == 0,
            f"{unacknowledged} written without a 201 reaching the client that asked",
        )
        if report.money["sum of balances"] != report.money["credited - debited + adjusted"]:
            self._add("money adds up", False, "sum of balances != credited - debited + adjusted")
        else:
            self._add(
                "money adds up", True, f"{report.money['sum of balances']} IRR across {len(facts['sellers'])} sellers"
            )
        for restart in getattr(self, "restarts", []):
            began = restart["began"]
            after = sorted((a for a in attempts if a["sent"] >= began or a["done"] >= began), key=lambda a: a["done"])
            failures = [a for a in after if a.get("status") is None or a["status"] >= 500]
            first_failure = failures[0]["done"] if failures else None
            anchor = first_failure or began
            ok_after = [a for a in after if a.get("status") and a["status"] < 300 and a["sent"] >= anchor]
            first_ok = ok_after[0]["done"] if ok_after else None
            report.recovery.setdefault("restarts", []).append(
                {
                    "pg_ctl restart took": f"{restart['pg_ctl_seconds']:.2f} s",
                    "first failure after restart began": f"{first_failure - began:.2f} s"
                    if first_failure
                    else "none seen",
                    "first 2xx after the outage (from restart begin)": f"{first_ok - began:.2f} s"
                    if first_ok
                    else "NEVER",
                    "failed attempts in between": sum(1 for a in failures if first_ok is None or a["done"] <= first_ok),
                }
            )
            if first_ok is None:
                self._add("service recovered after the restart", False, "no 2xx after the restart")


def recharges_ids(facts) -> list:
    return [row[0] for row in facts["recharges"]]


def server_errors_unique(errors: list) -> list:
    return errors


def _label(outcome: dict) -> str:
    status = outcome.get("status")
    if status is None:
        return outcome.get("error", "error")
    if status >= 500:
        return "503 contract" if outcome.get("contract_503") else f"{status} NOT CONTRACT"
    if status in (200, 201) and outcome.get("replayed"):
        return f"{status} replayed"
    return str(status) + (f" {outcome['code']}" if outcome.get("code") and status >= 400 else "")


def render(report: Report) -> str:
    lines = []

    def table(title: str, rows: list[tuple], header: tuple | None = None) -> None:
        lines.append(f"\n{title}")
        all_rows = ([header] if header else []) + [tuple(str(c) for c in row) for row in rows]
        widths = [max(len(row[i]) for row in all_rows) for i in range(len(all_rows[0]))] if all_rows else []
        for index, row in enumerate(all_rows):
            lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            if header and index == 0:
                lines.append("  " + "  ".join("-" * width for width in widths))

    table(
        "OPERATIONS (final outcome per operation)",
        [(k, ", ".join(f"{l} {n}" for l, n in sorted(v.items()))) for k, v in report.operations.items()],
        ("operation", "outcomes"),
    )
    table("FAULTS INJECTED", list(report.faults.items()), ("fault", "what happened"))
    table("MONEY", list(report.money.items()), ("quantity", "IRR / count"))
    labels = sorted({label for counts in report.statuses.values() for label in counts})
    table(
        "RESPONSES BY PHASE (every attempt)",
        [(phase, *(counts.get(l, 0) for l in labels)) for phase, counts in report.statuses.items()],
        ("phase", *labels),
    )
    if report.recovery.get("restarts"):
        table(
            "RECOVERY AFTER POSTGRESQL RESTART",
            [
                (f"#{i + 1}", "; ".join(f"{k}: {v}" for k, v in r.items()))
                for i, r in enumerate(report.recovery["restarts"])
            ],
            ("restart", "timings"),
        )
    table(
        "CHECKS", [("PASS" if c.ok else "FAIL", c.name, c.detail) for c in report.checks], ("result", "check", "detail")
    )
    if report.server_errors:
        table(
            "SERVER LOG (errors)",
            [(e["phase"], e["line"][:90], "; ".join(e["exception"])[:120]) for e in report.server_errors[:15]],
            ("phase", "line", "exception"),
        )
    lines.append(f"\n{'OK: no violation' if report.ok else f'VIOLATIONS: {len(report.violations)}'}")
    return "\n".join(lines)


def run_chaos(config: ChaosConfig, log=print, postgres=None) -> Report:
    """Runs the chaos scenario and returns its report (what tests/chaos use).
    `postgres`: a running `loadtests.server.Postgres` to use and leave running."""
    return Run(config, log=log, postgres=postgres).execute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(PRESETS), default="short", help="short: ~1 minute; long: ~10 minutes")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    for name in (
        "warmup_seconds",
        "phase_seconds",
        "cooldown_seconds",
        "kill_interval",
        "request_timeout",
        "op_deadline",
        "outage_seconds",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=float)
    for name in (
        "clients",
        "workers",
        "sellers_per_client",
        "credit",
        "restarts",
        "storm_requests",
        "storm_threads",
        "disconnects",
        "random_seed",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=int)
    parser.add_argument("--database-url", help="default: $DATABASE_URL, else a private PostgreSQL under /tmp")
    parser.add_argument("--data-dir", help="data directory of the private PostgreSQL (default /tmp/chaos-pg-<pid>)")
    parser.add_argument(
        "--stop-mode", choices=["fast", "immediate"], help="how PostgreSQL is stopped (long mode: immediate)"
    )
    parser.add_argument(
        "--allow-restart", action="store_true", help="allow restarting a PostgreSQL this run did not create"
    )
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--out-dir", help="keep the clients' records and gunicorn.log here")
    parser.add_argument("--json", help="also write the report as JSON to this file")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k in ChaosConfig.__dataclass_fields__}
    phases = tuple(p for p in args.phases.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    config = replace(
        PRESETS[args.mode],
        **{**overrides, "phases": phases, "allow_restart": args.allow_restart, "keep_database": args.keep_database},
    )
    report = run_chaos(config)
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=1, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
