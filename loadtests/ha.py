"""Automatic failover with synchronous replication, run for real (issue 22): `make ha`.

    python -m loadtests.ha                      start, print the endpoints, run until Ctrl-C
    python -m loadtests.ha --check              start, one failover under load with its checks, stop
    python -m loadtests.ha --check --failovers 3 --measure 10
                                                three failovers, alternating nodes, then the sale
                                                rate with synchronous replication and without

`make cluster`'s machines (loadtests/cluster.py), with pg_auto_failover
(`pg_autoctl`, Debian's postgresql-15-auto-failover and pg-auto-failover-cli)
managing PostgreSQL:

    monitor  the pg_auto_failover monitor (a PostgreSQL of its own)
    db1      a pg_autoctl keeper and its PostgreSQL (the first primary) + PgBouncer
    db2      a pg_autoctl keeper and its PostgreSQL (the synchronous standby) + PgBouncer
    app1/2   gunicorn + run_worker; ops the simulator; lb HAProxy, as in `make cluster`

The primary commits only once the standby has the commit (`synchronous_standby_names`
set by the monitor, `synchronous_commit = on`). The app servers' DATABASE_URL
lists both PgBouncers with `target_session_attrs=read-write`: libpq connects
to the first whose PostgreSQL takes writes, so after a failover the next
connection finds the new primary without a restart. The delivery workers list
both PostgreSQL servers the same way (they LISTEN, which a transaction pool
cannot carry). Listings read the primary (no DATABASE_REPLICA_URL): the
standby's job here is to survive the primary.

The check (`--check`, tests/system/test_failover.py): steady sales through
HAProxy, each with an Idempotency-Key and retried with it after a 5xx or a
dropped connection, every answer recorded; the primary's machine dies (its
keeper, PostgreSQL and PgBouncer SIGKILLed at once). Then: seconds from the
kill to the first 201 on the new primary; every 201 a terminal got is
replayed by the new primary with the same body; every 503 `unknown` resolves
by key lookup to the terminal's sale or to none; one recharge per key; the
books (`reconcile`) clean; after the deliveries settle, no reference charged
twice at the simulator. With `--failovers N` the dead node rejoins as the
standby (pg_auto_failover rewinds it) before the next kill, of the other node.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from loadtests.chaos.report import Check
from loadtests.cluster import (
    DATABASE,
    HOSTS,
    PG_BIN,
    TEMPLATES,
    Cluster,
    _render,
    _which,
    measure,
    missing_balancer_or_pooler,
)
from loadtests.server import _libpq, _python, database_facts, run_django, seed

NODES = ("db1", "db2")
FORMATION = "default"
EXTENSION = Path("/usr/share/postgresql/15/extension/pgautofailover.control")


def missing_failover_manager() -> list[str]:
    """What the failover test needs and is not installed (it is skipped then)."""
    missing = missing_balancer_or_pooler()
    if _which("pg_autoctl") is None:
        missing.append("pg_autoctl (pg-auto-failover-cli)")
    if not EXTENSION.exists():
        missing.append("postgresql-15-auto-failover")
    return missing


class HACluster(Cluster):
    """`make cluster` with a pg_auto_failover monitor and two keepers instead
    of a primary and a hand-made replica."""

    host_plan = {**HOSTS, "monitor": 51}

    def __init__(self, **kwargs: Any):
        missing = missing_failover_manager()
        if missing:
            raise SystemExit(
                f"missing: {', '.join(missing)} (apt-get install -y postgresql-15-auto-failover pg-auto-failover-cli)"
            )
        super().__init__(**kwargs)
        self._own_ports()

    def _own_ports(self) -> None:
        # pg_autoctl reaches its PostgreSQL through a Unix socket, in one
        # directory for the whole cluster: no two of its servers on one port,
        # on hosts of their own too.
        if self.use_netns:
            for offset, name in enumerate(("monitor", *NODES)):
                self.hosts[name].ports["pg"] = 5441 + offset

    # --- endpoints -----------------------------------------------------------

    def _writable_url(self, role: str) -> str:
        """Both nodes (role "pg": PostgreSQL, "bouncer": the PgBouncer beside it); libpq keeps the one taking writes."""
        listed = ",".join(f"{self.hosts[db].ip}:{self.hosts[db].ports[role]}" for db in NODES)
        return f"postgres://postgres@{listed}/{DATABASE}?target_session_attrs=read-write&connect_timeout=3"

    @property
    def primary_url(self) -> str:
        """Whichever node takes writes, straight to PostgreSQL."""
        return self._writable_url("pg")

    @property
    def pooled_url(self) -> str:
        """Whichever node takes writes, through the PgBouncer beside it."""
        return self._writable_url("bouncer")

    @property
    def monitor_url(self) -> str:
        monitor = self.hosts["monitor"]
        return f"postgresql://autoctl_node@{monitor.ip}:{monitor.ports['pg']}/pg_auto_failover?sslmode=disable"

    def endpoints(self) -> str:
        lines = super().endpoints().splitlines()[:-2]
        return "\n".join(
            [
                *lines,
                f"  monitor          {self.monitor_url}",
                *(f"  {db} (pg_autoctl)  {self.pg_url(db)}   PgBouncer {self.pg_url(db, 'bouncer')}" for db in NODES),
                f"  the app servers  {self.pooled_url}",
                f"  state            {' '.join(self.autoctl_command('monitor', 'show', 'state'))}",
            ]
        )

    # --- pg_autoctl ----------------------------------------------------------

    def _data(self, name: str) -> Path:
        return self.dir / name

    def autoctl_command(self, name: str, *args: str) -> list[str]:
        """`pg_autoctl <args> --pgdata <name's data>` as the node's user, with its
        configuration and state under the cluster's directory, not ~postgres."""
        home = self.dir / f"autoctl-{name}"
        env = [
            f"XDG_CONFIG_HOME={home}/config",
            f"XDG_DATA_HOME={home}/data",
            f"XDG_RUNTIME_DIR={home}/run",
            f"PGHOST={self.sockets}",
        ]
        command = ["env", *env, _which("pg_autoctl") or "pg_autoctl", *args, "--pgdata", str(self._data(name))]
        return self.hosts[name].command(command, self.pg_user)

    def _autoctl(self, name: str, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            self.autoctl_command(name, *args), capture_output=True, text=True, timeout=timeout, cwd="/"
        )
        if result.returncode:
            raise RuntimeError(f"{name}: pg_autoctl {' '.join(args)} failed:\n{result.stderr[-3000:]}")

    def start_keeper(self, name: str) -> None:
        """`pg_autoctl run`: the keeper, which starts PostgreSQL and follows the monitor's orders."""
        self.processes[name] = self._spawn_autoctl(name, "run")

    def _spawn_autoctl(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.dir / f"{name}.log", "ab") as log:
            # A session of its own: the keeper and its PostgreSQL die together when the machine does.
            return subprocess.Popen(
                self.autoctl_command(name, *args), cwd="/", stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def sockets(self) -> Path:
        return self.dir / "sockets"

    def _initdb(self, name: str) -> None:
        """The data directory, made here rather than by pg_autoctl (which takes
        it as it is) so that its socket is in the cluster's own directory, not
        Debian's /var/run/postgresql where another cluster or a stale lock file
        of a killed server may hold the port."""
        data = self._data(name)
        initdb = [PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        self._run(name, initdb, user=self.pg_user)
        with open(data / "postgresql.conf", "a") as file:
            file.write(f"\nunix_socket_directories = '{self.sockets}'\n")

    def _append_conf(self, name: str, template: str) -> None:
        conf = (TEMPLATES / template).read_text()
        with open(self._data(name) / "postgresql.conf", "a") as file:
            file.write(f"\n# --- loadtests/ha.py ---\n{conf}")
        (self._data(name) / "pg_hba.conf").write_text(_render("pg_hba.conf", subnet=self.net.subnet))

    def _node_args(self, name: str) -> list[str]:
        host = self.hosts[name]
        return [
            "--pgctl",
            str(PG_BIN / "pg_ctl"),
            "--pgport",
            str(host.ports["pg"]),
            "--hostname",
            host.ip,
            "--no-ssl",
            # pg_hba.conf is the cluster's (deploy/cluster/pg_hba.conf: trust on its private network).
            "--skip-pg-hba",
        ]

    def _start_primary(self) -> None:
        self._mkdir("sockets")
        for name in ("monitor", *NODES):
            for sub in ("", "/config", "/data", "/run"):
                self._mkdir(f"autoctl-{name}{sub}")
        self._initdb("monitor")
        self._autoctl("monitor", "create", "monitor", *self._node_args("monitor"))
        self._append_conf("monitor", "ha-monitor.conf")
        self.start_keeper("monitor")
        self.wait_port("monitor", self.hosts["monitor"].ports["pg"])
        self._wait_monitor()
        self._initdb("db1")
        node = ["create", "postgres", *self._node_args("db1"), "--name", "db1", "--dbname", DATABASE]
        self._autoctl("db1", *node, "--monitor", self.monitor_url, "--listen", "*")
        self._append_conf("db1", "ha-postgresql.conf")
        self.start_keeper("db1")
        self.wait_states({"db1": "single"})
        run_django(self.primary_url, "manage.py", "migrate", "--noinput")
        run_django(self.primary_url, "manage.py", "set_role_timeouts")

    def _start_replica(self) -> None:
        # The standby's first start copies the primary (pg_basebackup), which waits
        # for a checkpoint: pg_auto_failover does not ask for a fast one.
        node = ["create", "postgres", *self._node_args("db2"), "--name", "db2", "--dbname", DATABASE]
        args = [*node, "--monitor", self.monitor_url, "--listen", "*", "--run"]
        self.processes["db2"] = self._spawn_autoctl("db2", *args)
        self.wait_states({"db1": "primary", "db2": "secondary"}, checkpoint=True)

    def _wait_monitor(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.node_states()
                return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def wait_port(self, name: str, port: int) -> None:
        self._wait_port(self.hosts[name].ip, port, name, timeout=60)

    def node_states(self) -> dict[str, tuple[str, str]]:
        """The monitor's view: node name -> (reported state, assigned state)."""
        with psycopg.connect(self.monitor_url, autocommit=True, connect_timeout=3) as monitor:
            rows = monitor.execute("SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node")
            return {name: (reported, goal) for name, reported, goal in rows}

    def wait_states(self, wanted: dict[str, str], *, timeout: float = 120, checkpoint: bool = False) -> float:
        """Waits until each node in `wanted` reports (and is assigned) that state; returns the seconds waited."""
        started = time.monotonic()
        states: dict = {}
        while True:
            with contextlib.suppress(psycopg.Error):
                states = self.node_states()
                if all(states.get(name) == (state, state) for name, state in wanted.items()):
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the monitor says {states}; waited for {wanted}\n{self._keeper_logs()}")
            for name, process in self.processes.items():
                if name in ("monitor", *NODES) and process.poll() is not None:
                    raise RuntimeError(f"{name}'s pg_autoctl exited with {process.returncode}\n{self._keeper_logs()}")
            if checkpoint:
                with (
                    contextlib.suppress(psycopg.Error),
                    psycopg.connect(_libpq(self.primary_url), autocommit=True) as primary,
                ):
                    primary.execute("CHECKPOINT")
            time.sleep(0.5 if checkpoint else 0.1)

    def _keeper_logs(self) -> str:
        return "\n".join(f"--- {name}:\n{self.log_text(name)[-1500:]}" for name in ("monitor", *NODES))

    def primary(self) -> str:
        states = self.node_states()
        return next(name for name, (reported, _) in states.items() if reported in ("primary", "wait_primary", "single"))

    def cpu_seconds(self) -> dict[str, dict[int, float]]:
        used = super().cpu_seconds()
        # A keeper's process tree holds its PostgreSQL: one tier per node, whatever its role now.
        for tier in ("postgres primary", "postgres replica"):
            used.pop(tier, None)
        for db in NODES:
            used[f"{db} (pg_autoctl + PostgreSQL)"] = used.pop(db, {})
            used["role followers"] = {**used.get("role followers", {}), **used.pop(f"follower-{db}", {})}
        return used

    # --- PgBouncer beside a node that changes role -----------------------------

    def _start_pgbouncer(self, db: str, fresh: bool = True) -> None:
        """The node's PgBouncer, and the follower that resets it when the node changes role."""
        if fresh:
            super()._start_pgbouncer(db)
        else:
            directory = self.dir / f"pgbouncer-{db}"
            user_flag = ["-u", self.pg_user] if self.pg_user else []
            self._spawn(f"pgbouncer-{db}", db, [_which("pgbouncer"), *user_flag, directory / "pgbouncer.ini"])
            self._wait_port(self.hosts[db].ip, self.hosts[db].ports["bouncer"], f"pgbouncer-{db}")
        console = self.pg_url(db, "bouncer").replace(f"/{DATABASE}", "/pgbouncer")
        argv = [_python(), "-m", "loadtests.ha", "--follow-role", self.pg_url(db), console]
        self._spawn(f"follower-{db}", db, argv)

    # --- app servers ---------------------------------------------------------

    def app_env(self, name: str) -> dict:
        env = super().app_env(name)
        env["DATABASE_URL"] = self.pooled_url
        env.pop("DATABASE_REPLICA_URL")
        return env

    # --- a machine dies, and comes back --------------------------------------

    def kill_node(self, name: str) -> None:
        """SIGKILL everything of the node's machine at once: the keeper, its
        PostgreSQL (all in the keeper's session) and the PgBouncer beside it."""
        for process_name in (name, f"pgbouncer-{name}", f"follower-{name}"):
            process = self.processes.pop(process_name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def rejoin_node(self, name: str) -> float:
        """The dead machine starts again: its keeper asks the monitor, which
        makes it the new primary's standby (pg_rewind), and its PgBouncer.
        Returns the seconds until it is a synchronous standby again."""
        started = time.monotonic()
        # What the killed server left: nobody else uses its port in this directory.
        (self._data(name) / "postmaster.pid").unlink(missing_ok=True)
        (self.sockets / f".s.PGSQL.{self.hosts[name].ports['pg']}.lock").unlink(missing_ok=True)
        self.start_keeper(name)
        (self.dir / f"pgbouncer-{name}" / "pgbouncer.pid").unlink(missing_ok=True)
        self._start_pgbouncer(name, fresh=False)
        other = next(db for db in NODES if db != name)
        # Should pg_rewind fail, the keeper copies the primary afresh, which waits for a checkpoint.
        self.wait_states({name: "secondary", other: "primary"}, checkpoint=True)
        return time.monotonic() - started

    def set_synchronous(self, synchronous: bool) -> None:
        """Whether the primary waits for the standby at commit (the standby's replication quorum)."""
        standby = next(db for db in NODES if db != self.primary())
        with psycopg.connect(self.monitor_url, autocommit=True) as monitor:
            monitor.execute(
                "SELECT pgautofailover.set_node_replication_quorum(%s, %s, %s)", [FORMATION, standby, synchronous]
            )
        # The monitor sets the primary's synchronous_standby_names; the keeper reloads it.
        deadline = time.monotonic() + 30
        while bool(self._standby_names()) != synchronous:
            if time.monotonic() > deadline:
                raise TimeoutError(f"synchronous_standby_names did not follow replication-quorum {synchronous}")
            time.sleep(0.2)

    def _standby_names(self) -> str:
        with psycopg.connect(_libpq(self.primary_url), autocommit=True) as primary:
            row = primary.execute("SHOW synchronous_standby_names").fetchone()
        return row[0] if row else ""

    # --- stop ----------------------------------------------------------------

    def _stop_postgres(self) -> None:
        # The keepers stop their PostgreSQL (fast shutdown) on SIGTERM; the monitor last.
        for name in (*(f"follower-{db}" for db in NODES), *NODES, "monitor"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


# --- the load --------------------------------------------------------------


def _sell_until(name: str, threads: int, lb_url: str, sellers: list[dict], stop, out: str) -> None:
    """`threads` terminals in one process, each selling one recharge after
    another until `stop`; a sale is sent again with its key after a 5xx, a
    dropped connection or a timeout, until it gets a final answer. Every
    attempt is recorded, and a 201's body."""
    records: list[list[dict]] = [[] for _ in range(threads)]

    def terminal(index: int) -> None:
        seller = sellers[index % len(sellers)]
        number = 0
        with requests.Session() as session:
            while not stop.is_set():
                number += 1
                key = f"{name}t{index}-{number}-{uuid.uuid4().hex[:8]}"
                body = {"phone_number": f"0912{(index * 100_000 + number) % 10**7:07d}", "amount": 1000}
                records[index].append(_sale(session, lb_url, seller, key, body))
                time.sleep(0.01)  # bounded: a terminal's pace, not a flood

    workers = [threading.Thread(target=terminal, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    Path(out).write_text(json.dumps([op for mine in records for op in mine]))


def _sale(session: requests.Session, lb_url: str, seller: dict, key: str, body: dict) -> dict:
    headers = {"Authorization": f"Token {seller['token']}", "Idempotency-Key": key}
    op: dict[str, Any] = {"key": key, "seller_id": seller["seller_id"], "token": seller["token"], "body": body}
    attempts: list[dict] = []
    started = time.monotonic()
    while True:
        attempt: dict[str, Any] = {"sent": time.time()}
        try:
            response = session.post(lb_url + "/api/v1/recharges/", json=body, headers=headers, timeout=(3, 10))
            attempt["status"] = response.status_code
            answer = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
            if response.status_code == 201:
                op["answer"] = answer
            elif response.status_code >= 500:
                error = answer.get("error") if isinstance(answer, dict) else None
                details = error.get("details") if isinstance(error, dict) else None
                attempt["outcome"] = details.get("outcome") if isinstance(details, dict) else None
                attempt["contract_503"] = (
                    response.status_code == 503
                    and isinstance(error, dict)
                    and error.get("code") == "service_unavailable"
                    and bool(response.headers.get("Retry-After"))
                    and attempt["outcome"] in ("not_written", "unknown")
                )
        except (requests.RequestException, ValueError) as error:
            attempt["status"] = None
            attempt["error"] = type(error).__name__
        attempt["done"] = time.time()
        attempts.append(attempt)
        status = attempt["status"]
        if (status is not None and status < 500) or time.monotonic() - started > 60:
            break
        time.sleep(0.1)
    op["attempts"] = attempts
    return op


class Load:
    """Sales through HAProxy from `processes` spawned processes until stopped."""

    def __init__(self, cluster: HACluster, sellers: list[dict], *, processes: int, threads: int):
        self.ctx = multiprocessing.get_context("spawn")
        self.stop_event = self.ctx.Event()
        self.work = Path(tempfile.mkdtemp(prefix="ha-load-"))
        share = max(1, len(sellers) // processes)
        self.children = [
            self.ctx.Process(
                target=_sell_until,
                args=(
                    f"p{index}",
                    threads,
                    cluster.lb_url,
                    sellers[index * share : (index + 1) * share],
                    self.stop_event,
                    str(self.work / f"p{index}.json"),
                ),
            )
            for index in range(processes)
        ]
        for child in self.children:
            child.start()

    def stop(self) -> list[dict]:
        self.stop_event.set()
        for child in self.children:
            child.join(120)
        # A terminal process that hung or crashed would leave its answers out,
        # and the checks would pass on part of the load: that is a failure.
        lost = [child.name for child in self.children if child.exitcode != 0]
        missing = [i for i in range(len(self.children)) if not (self.work / f"p{i}.json").exists()]
        if lost or missing:
            raise RuntimeError(f"terminal processes ended badly: {lost}, without answers: {missing}")
        ops: list[dict] = []
        for index in range(len(self.children)):
            ops += json.loads((self.work / f"p{index}.json").read_text())
        shutil.rmtree(self.work, ignore_errors=True)
        return ops


# --- the failover and its checks -------------------------------------------


@dataclass
class Failover:
    killed: str
    promoted: str = ""
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    answered: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def table(self) -> str:
        lines = [f"failover: {self.killed} killed, {self.promoted} promoted"]
        lines += [f"  {key}: {value}" for key, value in self.figures.items()]
        lines += [f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}" for check in self.checks]
        return "\n".join(lines)


def fail_over(
    cluster: HACluster, sellers: list[dict], *, processes: int = 2, threads: int = 4, warmup: float = 4.0, log=print
) -> Failover:
    """Sales under way, the primary's machine dies; the sales go on until
    5 s after the first 201 on the new primary; then the checks, on the new
    primary's data."""
    load = Load(cluster, sellers, processes=processes, threads=threads)
    try:
        time.sleep(warmup)
        victim = cluster.primary()
        other = next(db for db in NODES if db != victim)
        result = Failover(killed=victim)
        killed_at = time.time()
        cluster.kill_node(victim)
        # A sale sent before every process of the machine was reaped may still have been the old primary's.
        dead_at = time.time()
        log(f"{victim} (primary) killed: keeper, PostgreSQL and PgBouncer, SIGKILL")
        cluster.wait_states({other: "wait_primary"}, timeout=90)
        promoted_at = time.time()
        result.promoted = other
        # Until a sale sent after the promotion has certainly been answered, and 5 s more.
        time.sleep(8)
    finally:
        # Also when the failover fails: the terminals' processes stop, not sell on.
        ops = load.stop()
    lb = cluster.lb_url
    later_201 = sorted(a["done"] for op in ops for a in op["attempts"] if a["status"] == 201 and a["sent"] > dead_at)
    first_201 = later_201[0] - killed_at if later_201 else None
    attempts = [a for op in ops for a in op["attempts"]]
    answered = [op for op in ops if "answer" in op]
    unknown = [op for op in ops if any(a.get("outcome") == "unknown" for a in op["attempts"])]
    result.figures = {
        "monitor promoted the standby after": f"{promoted_at - killed_at:.1f} s",
        "first 201 on the new primary after": f"{first_201:.1f} s" if first_201 is not None else "NEVER",
        "sales": len(ops),
        "answered 201": len(answered),
        "attempts by answer": dict(
            Counter(
                str(a["status"]) + (f" {a['outcome']}" if a.get("outcome") else "") if a["status"] else a["error"]
                for a in attempts
            ).most_common()
        ),
        "sales with a 503 unknown": len(unknown),
    }
    result.checks.append(
        Check(
            "service back within 30 s of the kill (first 201 on the new primary)",
            first_201 is not None and first_201 <= 30,
            result.figures["first 201 on the new primary after"],
        )
    )
    bad_5xx = [a for a in attempts if (a["status"] or 0) >= 500 and not a.get("contract_503")]
    result.checks.append(
        Check(
            "every 5xx is the contract's 503 (service_unavailable, Retry-After, details.outcome)",
            not bad_5xx,
            f"{sum(1 for a in attempts if a.get('contract_503'))} contract 503s, {len(bad_5xx)} other 5xx"
            + (f": {bad_5xx[:3]}" if bad_5xx else ""),
        )
    )
    gave_up = [op["key"] for op in ops if op["attempts"][-1]["status"] != 201]
    result.checks.append(
        Check("every sale ended in a 201 (retried with its key)", not gave_up, f"{len(gave_up)} did not: {gave_up[:5]}")
    )
    result.answered = answered
    result.checks.append(_check_replays(lb, answered))
    result.checks.append(_check_unknowns(lb, unknown))
    result.checks += _check_books(cluster, ops, sellers)
    return result


def _parallel(function, items: list, workers: int = 8) -> list:
    """`function` over `items` from `workers` threads, results in order."""
    results: list = [None] * len(items)
    jobs = iter(enumerate(items))
    lock = threading.Lock()

    def work() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    job = next(jobs, None)
                if job is None:
                    return
                results[job[0]] = function(session, job[1])

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _check_replays(lb: str, answered: list[dict]) -> Check:
    """Every 201 a terminal got, asked again with its key: the new primary
    replays it, the same status and body."""

    def replay(session: requests.Session, op: dict) -> str | None:
        headers = {"Authorization": f"Token {op['token']}", "Idempotency-Key": op["key"]}
        response = session.post(lb + "/api/v1/recharges/", json=op["body"], headers=headers, timeout=10)
        same = (
            response.status_code == 201
            and response.headers.get("Idempotent-Replayed") == "true"
            and response.json() == op["answer"]
        )
        return None if same else f"{op['key']}: {response.status_code} {response.text[:200]}"

    wrong = [problem for problem in _parallel(replay, answered) if problem]
    return Check(
        "every 201 is on the new primary with the same body (replayed by its key)",
        bool(answered) and not wrong,
        f"{len(answered)} replayed, {len(wrong)} different or missing" + (f": {wrong[:3]}" if wrong else ""),
    )


def _check_unknowns(lb: str, unknown: list[dict]) -> Check:
    """Every sale answered 503 `unknown` at some attempt, looked up by its key:
    exactly the sale its terminal was finally answered, or none."""

    def look_up(session: requests.Session, op: dict) -> str | None:
        response = session.get(
            lb + "/api/v1/recharges/",
            params={"idempotency_key": op["key"]},
            headers={"Authorization": f"Token {op['token']}"},
            timeout=10,
        )
        ids = [row["id"] for row in response.json()["results"]] if response.status_code == 200 else None
        final = op.get("answer", {}).get("id")
        return None if ids == ([final] if final else []) else f"{op['key']}: found {ids}, answered {final}"

    wrong = [problem for problem in _parallel(look_up, unknown) if problem]
    return Check(
        "every 503 unknown resolves by key lookup to one sale or none",
        not wrong,
        f"{len(unknown)} looked up, {len(wrong)} wrong" + (f": {wrong[:3]}" if wrong else ""),
    )


def _check_books(cluster: HACluster, ops: list[dict], sellers: list[dict]) -> list[Check]:
    facts = database_facts(cluster.primary_url)
    mine = {seller["seller_id"] for seller in sellers}
    recharges = [row for row in facts["recharges"] if row[1] in mine]
    per_key = Counter(row[3] for row in recharges)
    twice = [key for key, count in per_key.items() if count > 1]
    acknowledged = {op["answer"]["id"] for op in ops if "answer" in op}
    checks = [
        Check(
            "one recharge per Idempotency-Key, one ledger entry per recharge",
            not twice and all(count == 1 for _, count in facts["entries_per_recharge"]),
            f"{len(per_key)} keys, {len(recharges)} recharges" + (f"; TWICE: {twice[:5]}" if twice else ""),
        ),
        Check(
            "every recharge on the new primary was answered 201 to its terminal",
            {row[0] for row in recharges} <= acknowledged | _earlier(recharges, ops),
            f"{len(recharges)} recharges, {len(acknowledged)} acknowledged in this run",
        ),
        Check(
            "sum(ledger) = balance for every seller, reconcile clean",
            not facts["reconcile"],
            json.dumps(facts["reconcile"][:3]) if facts["reconcile"] else f"{len(facts['sellers'])} sellers exact",
        ),
    ]
    return checks


def _earlier(recharges: list, ops: list[dict]) -> set[int]:
    """Recharges of keys this run did not send (an earlier failover's sales)."""
    keys = {op["key"] for op in ops}
    return {row[0] for row in recharges if row[3] not in keys}


def settle_deliveries(cluster: HACluster, timeout: float = 150) -> list[Check]:
    """After the failovers: every recharge reaches a final status (the
    workers reconnected; what was claimed on a dead primary is asked about by
    status after its lease), and the simulator charged no reference twice."""
    started = time.monotonic()
    by_status: dict[str, int] = {}
    while time.monotonic() - started < timeout:
        with psycopg.connect(_libpq(cluster.primary_url), autocommit=True) as primary:
            by_status = dict(primary.execute("SELECT status, count(*) FROM recharges_recharge GROUP BY status"))
        if not by_status.get("pending"):
            break
        time.sleep(1)
    settled = time.monotonic() - started
    stats = requests.get(cluster._url("ops", "simulator") + "/_sim/stats", timeout=30).json()
    return [
        Check(
            "every recharge final after the failovers (the workers reconnected by themselves)",
            not by_status.get("pending"),
            f"{by_status} {settled:.1f} s after the load",
        ),
        Check(
            "every successful recharge is one charge at the simulator",
            by_status.get("successful", 0) == stats["charges"],
            f"{by_status.get('successful', 0)} successful here, {stats['charges']} charged there",
        ),
        Check(
            "no reference charged twice at the simulator",
            stats["charged_twice"] == 0 and stats["repeated_topup_requests"] == 0,
            f"{stats['topups']} top-ups, {stats['charges']} charges, {stats['topup_requests']} top-up requests, "
            f"{stats['status_queries']} status queries, charged twice {stats['charged_twice']}, "
            f"repeated top-up requests {stats['repeated_topup_requests']}",
        ),
    ]


def run_failovers(cluster: HACluster, *, failovers: int = 1, log=print, **load: Any) -> tuple[list[Failover], list]:
    """`failovers` kills of the primary, alternating nodes: the dead node
    rejoins as the standby before the next one. Then the deliveries settle."""
    seeded = seed(cluster.primary_url, sellers=8, credit=100_000_000)
    results: list[Failover] = []
    for number in range(failovers):
        if number:
            rejoined = cluster.rejoin_node(results[-1].killed)
            log(f"{results[-1].killed} rejoined as the synchronous standby in {rejoined:.1f} s")
        result = fail_over(cluster, seeded.sellers, log=log, **load)
        log(result.table())
        results.append(result)
    settled = settle_deliveries(cluster)
    if failovers > 1:
        # The last primary holds what every earlier one acknowledged, too.
        every = [op for result in results for op in result.answered]
        settled.append(_check_replays(cluster.lb_url, every))
    return results, settled


def measure_synchronous_cost(cluster: HACluster, *, seconds: float, log=print) -> dict:
    """The sale rate through HAProxy with the standby in the commit and
    without (its replication quorum off), the same load one after the other;
    and how much of the primary's busy backends' time is the wait for the standby."""
    results = {}
    for synchronous in (True, False):
        cluster.set_synchronous(synchronous)
        label = "synchronous standby" if synchronous else "asynchronous standby"
        waits: Counter[str] = Counter()
        done = threading.Event()
        sampler = threading.Thread(target=_sample_waits, args=(cluster, waits, done))
        sampler.start()
        try:
            figures = measure(cluster, seconds=seconds, targets={label: cluster.lb_url}, log=log)[label]
        finally:
            done.set()
            sampler.join()
        busy = sum(waits.values())
        figures["primary backends waiting on"] = {
            event: f"{100 * count / busy:.0f} %" for event, count in waits.most_common(5)
        }
        results[label] = figures
        log(f"  {label}: the primary's active backends wait on {figures['primary backends waiting on']}")
    cluster.set_synchronous(True)
    sync, async_ = (results[k]["sales/s"] for k in ("synchronous standby", "asynchronous standby"))
    results["ratio"] = round(sync / async_, 2) if async_ else None
    return results


def _sample_waits(cluster: HACluster, waits: Counter, done: threading.Event) -> None:
    """What the primary's active backends wait on, sampled every 20 ms ("CPU" when on no wait)."""
    with psycopg.connect(_libpq(cluster.primary_url), autocommit=True) as primary:
        while not done.is_set():
            rows = primary.execute(
                "SELECT coalesce(wait_event, 'CPU') FROM pg_stat_activity"
                " WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
            waits.update(row[0] for row in rows)
            time.sleep(0.02)


# --- the role follower -----------------------------------------------------


def follow_role(node_url: str, console_url: str) -> None:
    """Beside each node's PgBouncer: when the node changes role (promoted, or
    demoted and following another), KILL and RESUME its database in
    PgBouncer. PgBouncer (Debian 12's 1.18) hands every client the startup
    parameters of its first server connection, in_hot_standby included: a
    promoted standby's PgBouncer would go on telling libpq "standby", and
    target_session_attrs=read-write would never pick it. KILL drops the pool
    (and, on a demoted node, clients holding a connection to a standby), so
    the next connection learns the node's new role. (pg_auto_failover sets
    default_transaction_read_only on the promoted standby until the old
    primary is known to be gone, which PgBouncer would cache just the same.)"""
    writable = None
    while True:
        try:
            with psycopg.connect(_libpq(node_url), autocommit=True, connect_timeout=2) as node:
                while True:
                    # A promoted standby refuses writes (default_transaction_read_only) until the
                    # monitor lets it take them: the role libpq sees is both settings together.
                    row = node.execute(
                        "SELECT NOT pg_is_in_recovery() AND NOT current_setting('default_transaction_read_only')::bool"
                    ).fetchone()
                    now = bool(row and row[0])
                    if writable is not None and now != writable:
                        _reset_pool(console_url)
                    writable = now
                    time.sleep(0.1)
        except psycopg.Error:
            time.sleep(0.2)


def _reset_pool(console_url: str) -> None:
    # PgBouncer's console speaks the simple query protocol only: a client-side cursor.
    with (
        psycopg.connect(_libpq(console_url), autocommit=True, cursor_factory=psycopg.ClientCursor) as console,
        console.cursor() as cursor,
    ):
        cursor.execute(f"KILL {DATABASE}")
        cursor.execute(f"RESUME {DATABASE}")
    print(f"{time.strftime('%H:%M:%S')} the node changed role: PgBouncer's pool reset", flush=True)


# --- command line ----------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.ha", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail over under load with the checks, then stop")
    parser.add_argument("--failovers", type=int, default=1, help="with --check: kills, alternating nodes")
    parser.add_argument("--measure", type=float, default=0, metavar="SECONDS", help="sale rate sync vs async")
    parser.add_argument("--no-netns", action="store_true", help="all hosts on 127.0.0.1 even where namespaces work")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    parser.add_argument("--follow-role", nargs=2, metavar=("NODE", "CONSOLE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.follow_role:
        follow_role(*args.follow_role)
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    cluster = HACluster(use_netns=False if args.no_netns else None, keep=args.keep)
    with cluster:
        print(cluster.endpoints(), flush=True)
        if args.check:
            results, settled = run_failovers(cluster, failovers=args.failovers)
            for check in settled:
                print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
            back = [float(r.figures["first 201 on the new primary after"].split()[0]) for r in results if r.ok]
            if back:
                print(f"back after: {back} s (median {statistics.median(back):.1f} s)")
            ok = all(r.ok for r in results) and all(check.ok for check in settled)
            if args.measure:
                # The standby the last failover killed comes back first: the commit waits for it again.
                cluster.rejoin_node(results[-1].killed)
                print(json.dumps(measure_synchronous_cost(cluster, seconds=args.measure), indent=2))
            print("ALL CHECKS PASSED" if ok else "CHECKS FAILED")
            return 0 if ok else 1
        print("Running; Ctrl-C stops every process and removes the data.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
