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
from loadtests.cluster import HOSTS, PG_BIN, TEMPLATES, Cluster, _render, _which, missing_balancer_or_pooler
from loadtests.server import _libpq, database_facts, seed

DATABASE = "cluster"
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
        # pg_autoctl reaches its PostgreSQL through the socket in Debian's
        # directory, which all hosts share: no two servers on one port, not even
        # the machine's own PostgreSQL's 5432, on hosts of their own too.
        if self.use_netns:
            for offset, name in enumerate(("monitor", *NODES)):
                self.hosts[name].ports["pg"] = 5441 + offset

    # --- endpoints -----------------------------------------------------------

    def _hosts_url(self, role: str, attrs: str) -> str:
        listed = ",".join(f"{self.hosts[db].ip}:{self.hosts[db].ports[role]}" for db in NODES)
        return f"postgres://postgres@{listed}/{DATABASE}?target_session_attrs={attrs}&connect_timeout=3"

    @property
    def primary_url(self) -> str:
        """Whichever node takes writes, straight to PostgreSQL."""
        return self._hosts_url("pg", "read-write")

    @property
    def pooled_url(self) -> str:
        """Whichever node takes writes, through the PgBouncer beside it."""
        return self._hosts_url("bouncer", "read-write")

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
        env = [f"XDG_CONFIG_HOME={home}/config", f"XDG_DATA_HOME={home}/data", f"XDG_RUNTIME_DIR={home}/run"]
        command = ["env", *env, _which("pg_autoctl"), *args, "--pgdata", str(self._data(name))]
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
        for name in ("monitor", *NODES):
            for sub in ("", "/config", "/data", "/run"):
                self._mkdir(f"autoctl-{name}{sub}")
        self._autoctl("monitor", "create", "monitor", *self._node_args("monitor"))
        self._append_conf("monitor", "ha-monitor.conf")
        self.start_keeper("monitor")
        self.wait_port("monitor", self.hosts["monitor"].ports["pg"])
        self._wait_monitor()
        node = ["create", "postgres", *self._node_args("db1"), "--name", "db1", "--dbname", DATABASE]
        self._autoctl("db1", *node, "--monitor", self.monitor_url, "--listen", "*")
        self._append_conf("db1", "ha-postgresql.conf")
        self.start_keeper("db1")
        self.wait_states({"db1": "single"})
        from loadtests.server import run_django

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
                with contextlib.suppress(psycopg.Error):
                    with psycopg.connect(_libpq(self.primary_url), autocommit=True) as primary:
                        primary.execute("CHECKPOINT")
            time.sleep(0.5 if checkpoint else 0.1)

    def _keeper_logs(self) -> str:
        return "\n".join(f"--- {name}:\n{self.log_text(name)[-1500:]}" for name in ("monitor", *NODES))

    def primary(self) -> str:
        states = self.node_states()
        return next(name for name, (reported, _) in states.items() if reported in ("primary", "wait_primary", "single"))

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
        for process_name in (name, f"pgbouncer-{name}"):
            process = self.processes.pop(process_name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def rejoin_node(self, name: str) -> float:
        """The dead machine starts again: its keeper asks the monitor, which
        makes it the new primary's standby (pg_rewind), and its PgBouncer.
        Returns the seconds until it is a synchronous standby again."""
        started = time.monotonic()
        (self._data(name) / "postmaster.pid").unlink(missing_ok=True)
        self.start_keeper(name)
        directory = self.dir / f"pgbouncer-{name}"
        (directory / "pgbouncer.pid").unlink(missing_ok=True)
        user_flag = ["-u", self.pg_user] if self.pg_user else []
        self._spawn(f"pgbouncer-{name}", name, [_which("pgbouncer"), *user_flag, directory / "pgbouncer.ini"])
        other = next(db for db in NODES if db != name)
        self.wait_states({name: "secondary", other: "primary"})
        return time.monotonic() - started

    def set_synchronous(self, synchronous: bool) -> None:
        """Whether the primary waits for the standby at commit (the standby's replication quorum)."""
        standby = next(db for db in NODES if db != self.primary())
        with psycopg.connect(self.monitor_url, autocommit=True) as monitor:
            monitor.execute(
                "SELECT pgautofailover.set_node_replication_quorum(%s, %s, %s)", [FORMATION, standby, synchronous]
            )
        wanted = "ANY 1 (pgautofailover_standby_" if synchronous else ""
        deadline = time.monotonic() + 30
        with psycopg.connect(_libpq(self.primary_url), autocommit=True) as primary:
            while not primary.execute("SHOW synchronous_standby_names").fetchone()[0].startswith(wanted) or (
                not synchronous and primary.execute("SHOW synchronous_standby_names").fetchone()[0]
            ):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"synchronous_standby_names did not follow replication-quorum {synchronous}")
                time.sleep(0.2)

    # --- stop ----------------------------------------------------------------

    def _stop_postgres(self) -> None:
        # The keepers stop their PostgreSQL (fast shutdown) on SIGTERM; the monitor last.
        for name in (*NODES, "monitor"):
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
