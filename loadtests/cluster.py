"""Several machines, run for real on this one (issue 11): `make cluster`.

    python -m loadtests.cluster                 start, print the endpoints, run until Ctrl-C
    python -m loadtests.cluster --check         start, run the checks, stop (exit 1 on a failure)
    python -m loadtests.cluster --check --measure SECONDS
                                                also sales/s through HAProxy vs one app server

The hosts, each a network namespace on one bridge when `ip netns add` works
(root), else all on 127.0.0.1 with ports of their own:

    db1   PostgreSQL 15 primary + PgBouncer (transaction mode)
    db2   streaming replica (pg_basebackup -R) + PgBouncer (transaction mode)
    app1  python -m config.serve (gunicorn) + manage.py run_worker
    app2  the same
    ops   the operator simulator (OPERATOR_GATEWAY_URL of both app hosts)
    lb    HAProxy in front of app1 and app2 (health check GET /healthz)

The web servers reach PostgreSQL only through the PgBouncers (DB_TRANSACTION_POOLING=true,
the role's timeouts from `manage.py set_role_timeouts`), the delivery workers
directly (procrastinate's worker LISTENs); the listings read
from the replica (DATABASE_REPLICA_URL, config/routers.py). Configuration
templates: deploy/cluster/. Debian's haproxy, pgbouncer and PostgreSQL 15's
initdb, pg_ctl and pg_basebackup are required.

The checks (`--check`, and tests/system/test_cluster.py):
1. steady terminals in several processes sell, top up and adjust through
   HAProxy (the chaos run's clients, retrying with their Idempotency-Key), and
   the chaos run's money checks pass on the primary's data; then the live
   parallel test's core (2,016 sales from 8 processes) through HAProxy, with
   its exact per-seller asserts;
2. during that load one app server is SIGKILLed (gunicorn and its delivery
   worker, as a machine dies): no sale lost or doubled, HAProxy marks it down
   and later requests succeed;
3. with the replica's replay paused, a sale's `GET /recharges/?idempotency_key=`
   finds it at once (primary) while `/transactions/` does not (replica: lags).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests

from loadtests.chaos.checks import Checks
from loadtests.chaos.clients import steady_client
from loadtests.chaos.config import PHASES_ALL, ChaosConfig
from loadtests.chaos.report import Check, Report
from loadtests.chaos.run import Run
from loadtests.server import BASE_DIR, _libpq, _python, database_facts, django_env, run_django, seed

PG_BIN = Path(os.environ.get("CLUSTER_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATES = BASE_DIR / "deploy" / "cluster"
DATABASE = "cluster"
HOSTS = {"db1": 11, "db2": 12, "app1": 21, "app2": 22, "ops": 31, "lb": 41}
APPS = ("app1", "app2")
# Ports on a host of its own (namespaces); on 127.0.0.1 each gets a free port instead.
PORTS = {"pg": 5432, "bouncer": 6432, "app": 8000, "simulator": 8010, "lb": 8080, "stats": 8404}


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


def missing_balancer_or_pooler() -> list[str]:
    """haproxy and pgbouncer not installed (the system test is skipped then)."""
    return [name for name in ("haproxy", "pgbouncer") if _which(name) is None]


def missing_binaries() -> list[str]:
    pg_tools = [f"{PG_BIN}/{tool}" for tool in ("initdb", "pg_ctl", "pg_basebackup") if not (PG_BIN / tool).exists()]
    return missing_balancer_or_pooler() + pg_tools


def netns_works() -> bool:
    """Whether this process may create network namespaces (root, `ip` present, allowed by the container)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"rcprobe{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True


def _render(template: str, **values: Any) -> str:
    return string.Template((TEMPLATES / template).read_text()).substitute(**values)


def _free_ports(count: int) -> list[int]:
    """Ports the kernel hands out now; held together so that no two are the same."""
    sockets = []
    for _ in range(count):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        sockets.append(probe)
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


@dataclass
class Host:
    name: str
    ip: str
    netns: str | None
    ports: dict[str, int] = field(default_factory=dict)

    def command(self, argv: list[str], user: str | None = None) -> list[str]:
        """`argv` run on this host (inside its namespace), as `user` if given."""
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        if user:
            prefix += ["runuser", "-u", user, "--"]
        return prefix + [str(arg) for arg in argv]


class Network:
    """The hosts: one network namespace each, with a veth pair to a bridge in
    the root namespace (which also has an address on it, for the tools and
    the load generator); or, without namespaces, 127.0.0.1 and free ports."""

    def __init__(self, use_netns: bool, plan: dict[str, int] = HOSTS):
        self.use_netns = use_netns
        tag = f"rc{os.getpid() % 100000}"
        self.bridge = f"{tag}br"
        third = 20 + os.getpid() % 200
        self.subnet = f"10.213.{third}.0/24" if use_netns else "127.0.0.1/32"
        self.gateway = f"10.213.{third}.1"
        self.hosts: dict[str, Host] = {}
        free = iter(_free_ports(len(plan) * len(PORTS))) if not use_netns else None
        for name, last in plan.items():
            if use_netns:
                host = Host(name, f"10.213.{third}.{last}", f"{tag}-{name}", dict(PORTS))
            else:
                assert free is not None
                host = Host(name, "127.0.0.1", None, {role: next(free) for role in PORTS})
            self.hosts[name] = host
        self.created: list[str] = []

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)

    def up(self) -> None:
        if not self.use_netns:
            return
        self._ip("link", "add", self.bridge, "type", "bridge")
        self.created.append("bridge")
        self._ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        self._ip("link", "set", self.bridge, "up")
        for index, host in enumerate(self.hosts.values()):
            assert host.netns is not None
            veth = f"{self.bridge[:-2]}v{index}"
            self._ip("netns", "add", host.netns)
            self.created.append(host.netns)
            self._ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
            self._ip("link", "set", veth, "master", self.bridge)
            self._ip("link", "set", veth, "up")
            self._ip("-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
            self._ip("-n", host.netns, "link", "set", "eth0", "up")
            self._ip("-n", host.netns, "link", "set", "lo", "up")

    def carries_traffic(self) -> bool:
        """Whether a host reaches the root namespace over the bridge (a host's
        firewall may filter bridged traffic even where namespaces can be made)."""
        if not self.use_netns:
            return True
        with socket.socket() as listener:
            listener.bind((self.gateway, 0))
            listener.listen()
            port = listener.getsockname()[1]
            host = next(iter(self.hosts.values()))
            probe = f"import socket; socket.create_connection(('{self.gateway}', {port}), timeout=3).close()"
            command = host.command([sys.executable, "-c", probe])
            return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def down(self) -> None:
        # Deleting a namespace removes its end of the veth pair, and with it the pair.
        for name in reversed(self.created):
            args = ["link", "del", self.bridge] if name == "bridge" else ["netns", "del", name]
            subprocess.run(["ip", *args], capture_output=True, timeout=30)
        self.created = []


class Cluster:
    # The hosts and the last byte of each one's address (loadtests/ha.py adds its monitor).
    host_plan = HOSTS

    def __init__(
        self,
        *,
        use_netns: bool | None = None,
        web_concurrency: int = 2,
        delivery_concurrency: int = 8,
        keep: bool = False,
        log=print,
    ):
        missing = missing_binaries()
        if missing:
            raise SystemExit(f"missing: {', '.join(missing)} (apt-get install -y haproxy pgbouncer postgresql-15)")
        self.auto_netns = use_netns is None
        self.use_netns = netns_works() if use_netns is None else use_netns
        self.net = Network(self.use_netns, self.host_plan)
        self.hosts = self.net.hosts
        self.web_concurrency = web_concurrency
        self.delivery_concurrency = delivery_concurrency
        self.keep = keep
        self.log = log
        # PostgreSQL and PgBouncer refuse to run as root: as root they run as `postgres` (Debian's).
        self.pg_user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="cluster-"))
        self.dir.chmod(0o755)
        if self.pg_user:
            shutil.chown(self.dir, user=self.pg_user)
        self.processes: dict[str, subprocess.Popen] = {}
        self.started_pg: list[Path] = []
        self.secret_key = uuid.uuid4().hex

    # --- endpoints -----------------------------------------------------------

    def _url(self, host: str, role: str, scheme: str = "http") -> str:
        h = self.hosts[host]
        return f"{scheme}://{h.ip}:{h.ports[role]}"

    @property
    def lb_url(self) -> str:
        return self._url("lb", "lb")

    @property
    def stats_url(self) -> str:
        return self._url("lb", "stats") + "/stats;csv"

    def app_url(self, name: str) -> str:
        return self._url(name, "app")

    def pg_url(self, host: str = "db1", role: str = "pg") -> str:
        """Direct (role "pg") or through the host's PgBouncer (role "bouncer")."""
        return self._url(host, role, "postgres").replace("postgres://", "postgres://postgres@") + f"/{DATABASE}"

    @property
    def primary_url(self) -> str:
        return self.pg_url("db1")

    @property
    def replica_url(self) -> str:
        return self.pg_url("db2")

    def endpoints(self) -> str:
        mode = "network namespaces on bridge " + self.net.bridge if self.use_netns else "127.0.0.1, own ports"
        lines = [
            f"hosts: {mode}; files and logs in {self.dir}",
            f"  HAProxy          {self.lb_url}/api/v1/   (stats {self.stats_url.replace(';csv', '')})",
            *(f"  {name} (gunicorn) {self.app_url(name)}   + run_worker" for name in APPS),
            f"  simulator        {self._url('ops', 'simulator')}",
            f"  primary          {self.primary_url}   PgBouncer {self.pg_url('db1', 'bouncer')}",
            f"  replica          {self.replica_url}   PgBouncer {self.pg_url('db2', 'bouncer')}",
        ]
        return "\n".join(lines)

    # --- processes -----------------------------------------------------------

    def _run(self, host: str, argv: list, *, user: str | None = None, timeout: float = 120) -> None:
        result = subprocess.run(
            self.hosts[host].command(argv, user),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            # pg_ctl's postmaster outlives the command: out of the terminal's process
            # group, so a Ctrl-C reaches only this tool, which then stops it in order.
            start_new_session=True,
        )
        if result.returncode:
            raise RuntimeError(f"{host}: {' '.join(map(str, argv))} failed: {result.stderr[-3000:]}")

    def _spawn(self, name: str, host: str, argv: list, *, env: dict | None = None, user: str | None = None) -> None:
        with open(self.dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                self.hosts[host].command(argv, user),
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: Ctrl-C of this tool does not reach it first, and a
                # whole app server (gunicorn's master and workers) is killed as one.
                start_new_session=True,
            )

    def log_text(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _mkdir(self, name: str) -> Path:
        path = self.dir / name
        path.mkdir(mode=0o700)
        if self.pg_user:
            shutil.chown(path, user=self.pg_user)
        return path

    # --- start ---------------------------------------------------------------

    def start(self) -> Cluster:
        started = time.monotonic()
        try:
            self.net.up()
            if not self.net.carries_traffic():
                if not self.auto_netns:
                    raise RuntimeError("the namespaces cannot reach each other over the bridge; try --no-netns")
                self.log("network namespaces work but the bridge carries no traffic here: all hosts on 127.0.0.1")
                self.net.down()
                self.use_netns = False
                self.net = Network(False, self.host_plan)
                self.hosts = self.net.hosts
            self._start_primary()
            self._start_replica()
            for db in ("db1", "db2"):
                self._start_pgbouncer(db)
            self._start_simulator()
            for name in APPS:
                self.start_app(name)
            self._start_haproxy()
            for name in APPS:
                self.wait_app(name)
            self.wait_backend(APPS, up=True)
        except BaseException:
            self.stop()
            raise
        self.log(f"cluster up in {time.monotonic() - started:.1f} s")
        return self

    def _pg_conf(self, data: Path, host: Host) -> None:
        # The socket outside the data directory: pg_basebackup would copy its lock file.
        sockets = self._mkdir(f"sockets-{host.name}")
        conf = _render("postgresql.conf", listen_ip=host.ip, port=host.ports["pg"], socket_dir=sockets)
        with open(data / "postgresql.conf", "a") as file:  # later lines win: a replica's block overrides the copy
            file.write(f"\n# --- {host.name} (loadtests/cluster.py) ---\n{conf}")
        (data / "pg_hba.conf").write_text(_render("pg_hba.conf", subnet=self.net.subnet))

    def _pg_ctl_start(self, name: str, data: Path) -> None:
        self._run(
            name,
            [PG_BIN / "pg_ctl", "-D", data, "-l", data / "server.log", "-w", "-t", "60", "start"],
            user=self.pg_user,
        )
        self.started_pg.append(data)

    def _start_primary(self) -> None:
        data = self._mkdir("db1")
        self._run(
            "db1", [PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"], user=self.pg_user
        )
        self._pg_conf(data, self.hosts["db1"])
        self._pg_ctl_start("db1", data)
        with psycopg.connect(_libpq(self.primary_url.replace(f"/{DATABASE}", "/postgres")), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        run_django(self.primary_url, "manage.py", "migrate", "--noinput")
        # PgBouncer in transaction mode drops startup options: the timeouts live on the role.
        run_django(self.primary_url, "manage.py", "set_role_timeouts")

    def _start_replica(self) -> None:
        data = self.dir / "db2"
        db1 = self.hosts["db1"]
        # -R: standby.signal + primary_conninfo; -X stream: WAL during the copy comes along.
        self._run(
            "db2",
            [
                PG_BIN / "pg_basebackup",
                "-h",
                db1.ip,
                "-p",
                db1.ports["pg"],
                "-U",
                "postgres",
                "-D",
                data,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            user=self.pg_user,
        )
        self._pg_conf(data, self.hosts["db2"])
        self._pg_ctl_start("db2", data)
        with psycopg.connect(_libpq(self.replica_url), autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)

    def _start_pgbouncer(self, db: str) -> None:
        host = self.hosts[db]
        directory = self._mkdir(f"pgbouncer-{db}")
        (directory / "userlist.txt").write_text('"postgres" ""\n')
        (directory / "pgbouncer.ini").write_text(
            _render(
                "pgbouncer.ini",
                database=DATABASE,
                pg_host=host.ip,
                pg_port=host.ports["pg"],
                listen_ip=host.ip,
                listen_port=host.ports["bouncer"],
                dir=directory,
                pool_size=8,
            )
        )
        for path in directory.iterdir():
            if self.pg_user:
                shutil.chown(path, user=self.pg_user)
        user_flag = ["-u", self.pg_user] if self.pg_user else []
        self._spawn(f"pgbouncer-{db}", db, [_which("pgbouncer"), *user_flag, directory / "pgbouncer.ini"])
        self._wait_port(host.ip, host.ports["bouncer"], f"pgbouncer-{db}")

    def _start_simulator(self) -> None:
        ops = self.hosts["ops"]
        argv = [_python(), "-m", "simulator", "--host", ops.ip, "--port", ops.ports["simulator"]]
        self._spawn("simulator", "ops", [*argv, "--db", self.dir / "simulator.sqlite3", "--latency-ms", "20"])
        self._wait_port(ops.ip, ops.ports["simulator"], "simulator")

    def app_env(self, name: str) -> dict:
        host = self.hosts[name]
        metrics = self.dir / f"metrics-{name}"
        shutil.rmtree(metrics, ignore_errors=True)
        metrics.mkdir()
        allowed = sorted({"localhost", "127.0.0.1", *(h.ip for h in self.hosts.values())})
        return django_env(
            self.pg_url("db1", "bouncer"),
            DATABASE_REPLICA_URL=self.pg_url("db2", "bouncer"),
            DB_TRANSACTION_POOLING="true",
            HOST=host.ip,
            PORT=str(host.ports["app"]),
            WEB_CONCURRENCY=str(self.web_concurrency),
            DELIVERY_CONCURRENCY=str(self.delivery_concurrency),
            OPERATOR_GATEWAY_URL=self._url("ops", "simulator"),
            OPERATOR_READ_TIMEOUT="1",
            ALLOWED_HOSTS=",".join(allowed),
            SECRET_KEY=self.secret_key,  # the same on every app server
            TRUSTED_PROXIES="1",  # HAProxy's X-Forwarded-For
            PROMETHEUS_MULTIPROC_DIR=str(metrics),  # the web's /metrics shows its worker's too
            LOG_LEVEL="WARNING",
        )

    def start_app(self, name: str) -> None:
        env = self.app_env(name)
        self._spawn(name, name, [_python(), "-m", "config.serve"], env=env)
        # The delivery worker is procrastinate's: it LISTENs, which a transaction pool cannot carry.
        worker_env = {**env, "DATABASE_URL": self.primary_url, "DB_TRANSACTION_POOLING": "false"}
        self._spawn(f"{name}-worker", name, [_python(), "manage.py", "run_worker"], env=worker_env)

    def kill_app(self, name: str) -> None:
        """SIGKILL the whole app server, as a machine dies: gunicorn's master and
        workers and the host's delivery worker, nothing shut down cleanly."""
        for process_name in (name, f"{name}-worker"):
            process = self.processes.pop(process_name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def wait_app(self, name: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_text(name)[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.app_url(name) + "/healthz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not healthy after {timeout} s:\n{self.log_text(name)[-3000:]}")
            time.sleep(0.2)

    def _start_haproxy(self) -> None:
        lb = self.hosts["lb"]
        servers = "\n".join(
            f"    server {name} {self.hosts[name].ip}:{self.hosts[name].ports['app']} check" for name in APPS
        )
        config = self.dir / "haproxy.cfg"
        config.write_text(
            _render(
                "haproxy.cfg",
                lb_ip=lb.ip,
                lb_port=lb.ports["lb"],
                stats_port=lb.ports["stats"],
                servers=servers,
                errors=TEMPLATES / "errors",
            )
        )
        self._spawn("haproxy", "lb", [_which("haproxy"), "-db", "-f", config])
        self._wait_port(lb.ip, lb.ports["lb"], "haproxy")

    def backend_status(self) -> dict[str, str]:
        """HAProxy's view of each app server: UP, DOWN, ..."""
        rows = requests.get(self.stats_url, timeout=5).text.lstrip("# ").splitlines()
        header = rows[0].split(",")
        status = {}
        for row in rows[1:]:
            values = dict(zip(header, row.split(","), strict=False))
            if values.get("pxname") == "app" and values.get("svname") in APPS:
                status[values["svname"]] = values["status"]
        return status

    def wait_backend(self, names: tuple[str, ...], *, up: bool, timeout: float = 30) -> float:
        """Waits until HAProxy marks `names` UP (or DOWN); returns the seconds waited."""
        started = time.monotonic()
        while True:
            status = self.backend_status()
            if all(status.get(name, "").startswith("UP" if up else "DOWN") for name in names):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"HAProxy says {status}, waited for {names} {'UP' if up else 'DOWN'}")
            time.sleep(0.05)

    def _wait_port(self, ip: str, port: int, name: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((ip, port), timeout=1).close()
                return
            except OSError:
                process = self.processes.get(name)
                if (process and process.poll() is not None) or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} is not listening on {ip}:{port}:\n{self.log_text(name)[-3000:]}"
                    ) from None
                time.sleep(0.1)

    # --- CPU per tier ---------------------------------------------------------

    def cpu_seconds(self) -> dict[str, dict[int, float]]:
        """CPU seconds (user + system) used so far by each tier's processes, by pid."""
        tiers: dict[str, list[int]] = {}
        for name, process in self.processes.items():
            tier = (
                "gunicorn (2 app servers)"
                if name in APPS
                else "delivery workers"
                if name.endswith("-worker")
                else "pgbouncer"
                if name.startswith("pgbouncer")
                else name
            )
            tiers.setdefault(tier, []).append(process.pid)
        for db, tier in (("db1", "postgres primary"), ("db2", "postgres replica")):
            pid_file = self.dir / db / "postmaster.pid"
            if pid_file.exists():
                tiers[tier] = [int(pid_file.read_text().split()[0])]
        used: dict[str, dict[int, float]] = {}
        for tier, pids in tiers.items():
            used[tier] = {}
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    root = psutil.Process(pid)
                    for process in [root, *root.children(recursive=True)]:
                        with contextlib.suppress(psutil.Error):
                            times = process.cpu_times()
                            used[tier][process.pid] = times.user + times.system
        return used

    # --- stop ----------------------------------------------------------------

    def stop(self) -> None:
        # The balancer first, then the apps, the pools, the databases: nothing
        # is left talking to a server that has gone.
        order = ["haproxy", *APPS, *(f"{a}-worker" for a in APPS), "simulator", "pgbouncer-db1", "pgbouncer-db2"]
        for name in order:
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            # SIGINT: PgBouncer's safe shutdown; SIGTERM: gunicorn's graceful one.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT if name.startswith("pgbouncer") else signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self._stop_postgres()
        self.net.down()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_postgres(self) -> None:
        for data in reversed(self.started_pg):
            host = data.name
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(
                    host, [PG_BIN / "pg_ctl", "-D", data, "-w", "-t", "30", "-m", "fast", "stop"], user=self.pg_user
                )
        self.started_pg = []

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the checks ------------------------------------------------------------


class ClusterChecks(Checks):
    """The chaos run's checks (loadtests/chaos/checks.py) on a cluster's run."""

    def __init__(self, config: ChaosConfig):
        self.config = config
        self.report = Report(config=asdict(config))
        self.restarts: list[dict] = []
        self.log_marks: dict[str, int] = {}

    def scan_server_log(self, text: str) -> None:
        Run._scan_log(self, types.SimpleNamespace(log_text=lambda: text))  # type: ignore[arg-type]

    def add(self, name: str, ok: bool, detail: str) -> None:
        self._add(name, ok, detail)


def _terminals(
    name: str, threads: int, base_url: str, sellers: list, staff_token: str, config: dict, phase, stop, out: str
):
    """`threads` of the chaos run's steady terminals in one process, each with its own records."""
    workers = [
        threading.Thread(
            target=steady_client,
            args=(f"{name}t{index}", base_url, sellers, staff_token, config, phase, stop, f"{out}.{index}"),
        )
        for index in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def check_load_and_kill(
    cluster: Cluster,
    *,
    processes: int = 3,
    threads: int = 3,
    warmup: float = 5.0,
    after_kill: float = 8.0,
    kill: str | None = "app1",
    log=print,
) -> Report:
    """Checks 1 and 2: steady load through HAProxy, one app server SIGKILLed
    halfway (unless `kill` is None), then the chaos run's money checks and
    ours on the primary's data taken in one snapshot."""
    config = ChaosConfig(clients=processes * threads, sellers_per_client=1, request_timeout=10.0, op_deadline=30.0)
    checks = ClusterChecks(config)
    seeded = seed(cluster.primary_url, sellers=processes * 2, credit=config.credit)
    ctx = multiprocessing.get_context("spawn")
    phase = ctx.Value("i", PHASES_ALL.index("warmup"))
    stop = ctx.Event()
    work = Path(tempfile.mkdtemp(prefix="cluster-load-"))
    children = []
    for index in range(processes):
        # Two sellers per process: its threads sell for the same sellers at once (row locks).
        mine = seeded.sellers[index * 2 : index * 2 + 2]
        out = str(work / f"p{index}.json")
        args = (f"p{index}", threads, cluster.lb_url, mine, seeded.staff_token, asdict(config), phase, stop, out)
        children.append(ctx.Process(target=_terminals, args=args))
    for child in children:
        child.start()
    log_marks = {name: len(cluster.log_text(name)) for name in APPS}
    time.sleep(warmup)
    killed_at = None
    if kill:
        phase.value = PHASES_ALL.index("kill")
        killed_at = time.time()
        cluster.kill_app(kill)
        down_after = cluster.wait_backend((kill,), up=False)
        log(f"{kill} SIGKILLed under load; HAProxy marked it DOWN after {down_after:.2f} s")
        checks.report.faults["app server killed"] = kill
        checks.report.faults["marked DOWN after"] = f"{down_after:.2f} s"
    time.sleep(after_kill)
    phase.value = PHASES_ALL.index("cooldown")
    stop.set()
    for child in children:
        child.join(config.op_deadline + 30)
    ops = []
    lost = []
    for index in range(processes):
        for thread in range(threads):
            path = work / f"p{index}.json.{thread}"
            if path.exists():
                ops += json.loads(path.read_text())
            else:
                lost.append(path.name)
    shutil.rmtree(work, ignore_errors=True)
    checks.add(
        "every client reported",
        not lost,
        f"{processes} processes x {threads} threads" + (f"; LOST {lost}" if lost else ""),
    )
    facts = database_facts(cluster.primary_url)
    checks._check(ops, facts, seeded, seeded.sellers[0])
    checks.scan_server_log("".join(cluster.log_text(name)[mark:] for name, mark in log_marks.items()))
    _check_each_seller(checks, seeded, facts)
    if killed_at is not None:
        _check_routed_around(checks, ops, killed_at, down_after)
    attempts = [a for op in ops for a in op["attempts"]]
    sales = [op for op in ops if op["kind"] == "recharge" and op["final"].get("status") == 201]
    checks.report.money["sales acknowledged (201)"] = len(sales)
    checks.report.money["attempts by outcome"] = dict(
        Counter(str(a.get("status") or a.get("error")) for a in attempts).most_common()
    )
    return checks.report


def _check_each_seller(checks: ClusterChecks, seeded, facts: dict) -> None:
    """Exact balances, seller by seller: seeded credit + approved top-ups +
    adjustments - sales + refunds, from the primary's rows."""
    mine = {s["seller_id"] for s in seeded.sellers}
    expected: Counter[int] = Counter()
    for _, seller_id, amount, status in facts["credit_requests"]:
        if status == "approved" and seller_id in mine:
            expected[seller_id] += amount  # the seeding's own approved request included
    for _, seller_id, amount, _ in facts["adjustments"]:
        expected[seller_id] += amount
    recharge_seller = {row[0]: row[1] for row in facts["recharges"]}
    for _, seller_id, amount, _ in facts["recharges"]:
        expected[seller_id] -= amount
    for recharge_id, amount in facts["refunds"]:
        expected[recharge_seller[recharge_id]] += amount
    balances = {seller_id: balance for seller_id, balance in facts["sellers"] if seller_id in mine}
    wrong = {s: (balances[s], expected[s]) for s in mine if balances[s] != expected[s]}
    checks.add(
        "each seller's balance = credits + adjustments - sales + refunds",
        not wrong,
        f"{len(mine)} sellers exact" if not wrong else f"WRONG (balance, expected): {wrong}",
    )


def _check_routed_around(checks: ClusterChecks, ops: list, killed_at: float, down_after: float) -> None:
    """After HAProxy marked the dead server down, every attempt got an answer
    from the live one (no connection error, no 5xx)."""
    settled = killed_at + down_after
    later = [a for op in ops for a in op["attempts"] if a["sent"] > settled]
    failed = [a for a in later if a.get("status") is None or a["status"] >= 500]
    during = [a for op in ops for a in op["attempts"] if killed_at - 1 <= a["sent"] <= settled]
    checks.report.faults["attempts failed around the kill"] = sum(
        1 for a in during if a.get("status") is None or a["status"] >= 500
    )
    checks.add(
        "HAProxy routes around the killed app server",
        bool(later) and not failed,
        f"{len(later)} attempts after it was marked down, {len(failed)} failed"
        + (f": {[(a.get('status'), a.get('error')) for a in failed[:5]]}" if failed else ""),
    )


def check_live_core(cluster: Cluster) -> Check:
    """The live parallel test's own core (tests/system/live/test_parallel_load.py:
    2,016 sales from 8 processes x 4 threads, some retried after a client
    timeout, while staff top up and adjust the same two sellers) through
    HAProxy, with its exact per-seller asserts on the primary's rows. Run in a
    child whose Django points at the primary (DATABASE_URL)."""
    try:
        out = run_django(cluster.primary_url, "-m", "loadtests.cluster", "--live-core", cluster.lb_url, timeout=600)
    except RuntimeError as error:
        return Check(
            "the live parallel test's core through HAProxy", False, f"{str(error)[-2000:]}\n{_failure_logs(cluster)}"
        )
    summary = " ".join(line.strip() for line in out.splitlines() if line.strip().startswith(("[live", "seller")))
    return Check("the live parallel test's core through HAProxy", "LIVE CORE OK" in out, summary)


def _failure_logs(cluster: Cluster) -> str:
    """What a failed check needs from the logs it does not see: the app
    servers' errors and warnings, and the primary's."""
    parts = []
    for name in ("app1", "app2"):
        lines = [
            line for line in cluster.log_text(name).splitlines() if "warning" in line.lower() or "error" in line.lower()
        ]
        parts.append(f"--- {name}: {len(lines)} warnings and errors, the last ones:\n" + "\n".join(lines[-15:]))
    for name, path in (("db1", "db1/server.log"), ("pgbouncer-db1", "pgbouncer-db1/pgbouncer.log")):
        log = cluster.dir / path
        text = log.read_text(errors="replace") if log.exists() else ""
        lines = [line for line in text.splitlines() if any(level in line for level in ("ERROR", "FATAL", "WARNING"))]
        parts.append(f"--- {name}: {len(lines)} errors and warnings, the last ones:\n" + "\n".join(lines[-15:]))
    return "\n".join(parts)


def _live_core(lb_url: str) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    # The suite's own check, imported rather than copied, so both always assert the same.
    from tests.system.live.test_parallel_load import run_and_check

    staff = get_user_model().objects.create_user(
        username=f"live-staff-{uuid.uuid4().hex[:8]}", is_staff=True, is_superuser=True
    )
    run_and_check(types.SimpleNamespace(url=lb_url, log_tail=lambda: "(logs in the cluster's directory)"), staff, True)
    print("LIVE CORE OK")


def check_replica_lag(cluster: Cluster, log=print) -> list[Check]:
    """Check 3: replay paused on the replica; a new sale is found by its key
    (the primary) but not in /transactions/ (the replica, lagging)."""
    seeded = seed(cluster.primary_url, sellers=1, credit=1_000_000)
    token = seeded.sellers[0]["token"]
    headers = {"Authorization": f"Token {token}"}
    api = cluster.lb_url + "/api/v1"
    results = []
    # The seller and its funding must be on the replica before replay stops.
    _wait_replayed(cluster)
    with psycopg.connect(_libpq(cluster.replica_url), autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            key = f"lag-{uuid.uuid4().hex[:12]}"
            sale = requests.post(
                api + "/recharges/",
                json={"phone_number": "09121234567", "amount": 5000},
                headers={**headers, "Idempotency-Key": key},
                timeout=10,
            )
            sold = sale.json() if sale.status_code == 201 else {}
            # Both app servers answer in turn (round robin): ask each at least twice.
            lookups = [
                requests.get(api + "/recharges/", params={"idempotency_key": key}, headers=headers, timeout=10)
                for _ in range(4)
            ]
            found = [[r["id"] for r in lookup.json()["results"]] for lookup in lookups if lookup.status_code == 200]
            results.append(
                Check(
                    "replay paused: GET /recharges/?idempotency_key= finds the sale (primary)",
                    sale.status_code == 201 and found == [[sold.get("id")]] * 4,
                    f"sale {sale.status_code} id {sold.get('id')}; lookups {found}",
                )
            )
            listings = [requests.get(api + "/transactions/", headers=headers, timeout=10) for _ in range(4)]
            kinds = [
                [e["kind"] for e in listing.json()["results"]] for listing in listings if listing.status_code == 200
            ]
            recharges = [requests.get(api + "/recharges/", headers=headers, timeout=10) for _ in range(2)]
            listed = [[r["id"] for r in page.json()["results"]] for page in recharges if page.status_code == 200]
            results.append(
                Check(
                    "replay paused: /transactions/ and /recharges/ lag (served by the replica)",
                    kinds == [["credit"]] * 4 and listed == [[]] * 2,
                    f"/transactions/ kinds {kinds}; /recharges/ ids {listed}",
                )
            )
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")
    _wait_replayed(cluster)
    listing = requests.get(api + "/transactions/", headers=headers, timeout=10).json()
    kinds = [e["kind"] for e in listing["results"]]
    results.append(
        Check("replay resumed: /transactions/ catches up", kinds == ["recharge", "credit"], f"kinds {kinds}")
    )
    return results


def _wait_replayed(cluster: Cluster, timeout: float = 30) -> None:
    with psycopg.connect(_libpq(cluster.primary_url), autocommit=True) as primary:
        (target,) = primary.execute("SELECT pg_current_wal_lsn()").fetchall()[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(_libpq(cluster.replica_url), autocommit=True) as replica:
        while replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchall() != [(True,)]:
            if time.monotonic() > deadline:
                raise TimeoutError("the replica did not replay the primary's WAL")
            time.sleep(0.05)


# --- measuring -------------------------------------------------------------


def _sell(base_url: str, sellers: list[dict], seconds: float, threads: int, start_at: float, queue) -> None:
    """Sells as fast as `threads` terminals can for `seconds`; reports 201 latencies and other answers."""
    latencies: list[float] = []
    other: Counter[str] = Counter()
    lock = threading.Lock()

    def terminal(index: int) -> None:
        seller = sellers[index % len(sellers)]
        headers = {"Authorization": f"Token {seller['token']}"}
        with requests.Session() as session:
            while time.time() < start_at:
                time.sleep(0.005)
            end = start_at + seconds
            number = 0
            while time.time() < end:
                number += 1
                began = time.perf_counter()
                try:
                    response = session.post(
                        base_url + "/api/v1/recharges/",
                        json={"phone_number": f"0912{(index * 100_000 + number) % 10**7:07d}", "amount": 1000},
                        headers={**headers, "Idempotency-Key": f"m-{uuid.uuid4().hex}"},
                        timeout=10,
                    )
                    status = str(response.status_code)
                except requests.RequestException as error:
                    status = type(error).__name__
                with lock:
                    if status == "201":
                        latencies.append(time.perf_counter() - began)
                    else:
                        other[status] += 1

    workers = [threading.Thread(target=terminal, args=(index,)) for index in range(threads)]
    cpu_before = time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((latencies, dict(other), time.process_time() - cpu_before))


def measure(
    cluster: Cluster,
    *,
    seconds: float = 10.0,
    processes: int = 2,
    threads: int = 8,
    targets: dict[str, str] | None = None,
    log=print,
) -> dict:
    """Sales/s for `seconds` through HAProxy (both app servers) and straight
    to app1 (or each of `targets`, name -> URL), with the same load
    (processes x threads terminals, keep-alive)."""
    seeded = seed(cluster.primary_url, sellers=processes * threads, credit=50_000_000)
    ctx = multiprocessing.get_context("spawn")
    results = {}
    targets = targets or {"HAProxy, 2 app servers": cluster.lb_url, "app1 directly": cluster.app_url("app1")}
    for target, url in targets.items():
        queue = ctx.Queue()
        start_at = time.time() + 3  # every process has imported and connected by then
        share = len(seeded.sellers) // processes
        children = [
            ctx.Process(
                target=_sell, args=(url, seeded.sellers[i * share : (i + 1) * share], seconds, threads, start_at, queue)
            )
            for i in range(processes)
        ]
        for child in children:
            child.start()
        latencies: list[float] = []
        other: Counter[str] = Counter()
        load_cpu = 0.0
        time.sleep(max(0.0, start_at - time.time()))
        before = cluster.cpu_seconds()
        for _ in children:
            mine, theirs, cpu = queue.get(timeout=seconds + 60)
            latencies += mine
            other.update(theirs)
            load_cpu += cpu
        after = cluster.cpu_seconds()
        for child in children:
            child.join(30)
        latencies.sort()
        # Cores each tier kept busy; the waiting tail after the last sale is a few ms.
        cores = {
            tier: round(sum(cpu - before.get(tier, {}).get(pid, 0.0) for pid, cpu in pids.items()) / seconds, 2)
            for tier, pids in after.items()
        }
        cores["load generator (python, requests)"] = round(load_cpu / seconds, 2)
        results[target] = {
            "sales/s": round(len(latencies) / seconds),
            "p50 ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p99 ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1) if latencies else None,
            "other answers": dict(other),
            "cores": cores,
        }
        log(f"  {target}: {results[target]}")
    return results


# --- command line ----------------------------------------------------------


def run_checks(cluster: Cluster, *, measure_seconds: float = 0, log=print) -> bool:
    report = check_load_and_kill(cluster, log=log)
    log(report.table())
    # The killed server comes back: HAProxy takes it in again (rise 2).
    cluster.start_app("app1")
    cluster.wait_app("app1")
    back = cluster.wait_backend(("app1",), up=True)
    log(f"app1 restarted; HAProxy marked it UP {back:.2f} s after it answered")
    # After the load check took its facts: it counts every recharge in the database as its clients'.
    live = check_live_core(cluster)
    lag = [live, *check_replica_lag(cluster, log=log)]
    for check in lag:
        log(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if measure_seconds:
        log(f"measuring {measure_seconds:.0f} s per target:")
        measure(cluster, seconds=measure_seconds, log=log)
    return report.ok and all(check.ok for check in lag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="run the checks, then stop")
    parser.add_argument("--measure", type=float, default=0, metavar="SECONDS", help="with --check: sales/s per target")
    parser.add_argument("--no-netns", action="store_true", help="all hosts on 127.0.0.1 even where namespaces work")
    parser.add_argument("--web-concurrency", type=int, default=2, help="gunicorn workers per app server")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    parser.add_argument("--live-core", metavar="URL", help=argparse.SUPPRESS)  # check_live_core's child
    args = parser.parse_args(argv)
    if args.live_core:
        _live_core(args.live_core)
        return 0
    # SIGTERM (a supervisor, `timeout`) stops the cluster as Ctrl-C does, instead of orphaning it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not netns_works() and not args.no_netns:
        print("ip netns add does not work here (needs root): all hosts on 127.0.0.1 with ports of their own")
    cluster = Cluster(use_netns=False if args.no_netns else None, web_concurrency=args.web_concurrency, keep=args.keep)
    with cluster:
        print(cluster.endpoints(), flush=True)
        if args.check:
            ok = run_checks(cluster, measure_seconds=args.measure)
            print("ALL CHECKS PASSED" if ok else "CHECKS FAILED")
            return 0 if ok else 1
        print("Running; Ctrl-C stops every process and removes the data.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
