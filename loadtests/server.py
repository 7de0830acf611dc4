"""Start the service for a load or fault-injection test, and stop it again.

The one way the project's own tools and tests run the service: chaos runs,
the reliability and live-server tests, and the load-test tools (run_loadtest,
bench, through loadtests/harness.py) share this small API:

    from loadtests.server import PrivatePostgres, ApiServer, seed

    with PrivatePostgres("/tmp/chaos-pg-1") as pg:        # or postgres_for(url)
        url = pg.fresh_database()                         # a new, migrated database
        sellers = seed(url, sellers=8, credit=10_000_000)
        with ApiServer(url, workers=4) as api:            # gunicorn on 127.0.0.1
            requests.get(api.url + "/healthz", timeout=5)
            api.kill_worker()                             # SIGKILL one worker
            pg.restart()                                  # pg_ctl restart -m fast

`PrivatePostgres` runs its own PostgreSQL from the `pgserver` package's
binaries in a directory of its own (as the `pgserver` system user when run
as root, as pgserver itself does), listening only on a Unix socket in that
directory. `ServicePostgres` drives the machine's PostgreSQL service
(`pg_ctlcluster`) and is chosen by `postgres_for()` only for an explicit
DATABASE_URL on this host: it restarts a server other people may be using,
so nothing in the test suite ever uses it.

Money is seeded exactly as in production, through the services
(`create_seller`, `request_credit`, `approve_credit_request`), in a child
Python process (loadtests/dbtasks.py) so this module never imports Django.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests

BASE_DIR = Path(__file__).resolve().parent.parent
PORT_RANGE = range(18300, 18400)
TEMPLATE_DATABASE = "chaos_template"


def _pg_bin() -> Path:
    import pgserver._commands  # here: imported only when a private server is used

    return pgserver._commands.POSTGRES_BIN_PATH


def _python() -> str:
    venv_python = BASE_DIR / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def django_env(database_url: str, **extra: str | None) -> dict:
    """Environment for a Django process (manage.py, gunicorn, dbtasks) on
    `database_url`; an `extra` value of None removes that variable."""
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings")
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def run_django(database_url: str, *args: str, timeout: float = 300, **extra_env: str) -> str:
    """Runs `python <args>` in the project with DATABASE_URL set; returns stdout."""
    result = subprocess.run(
        [_python(), *args],
        cwd=BASE_DIR,
        env=django_env(database_url, **extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


def migrate(database_url: str) -> None:
    run_django(database_url, "manage.py", "migrate", "--noinput")


# --- PostgreSQL ---------------------------------------------------------------


class Postgres:
    """A PostgreSQL server the test may restart: databases, URLs, restart."""

    restartable = True
    #: True only for a server this harness created and will remove: the only
    #: kind it restarts without being told it may.
    private = False

    def url(self, database: str = "postgres") -> str:
        raise NotImplementedError

    def restart(self, mode: str = "fast") -> float:
        """Restarts the server; returns the seconds the command took."""
        raise NotImplementedError

    def outage(self, seconds: float, mode: str = "fast") -> float:
        """Stops the server, keeps it down `seconds`, starts it; returns the
        seconds from the stop command to the server accepting connections."""
        raise NotImplementedError

    def _sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(_libpq(self.url(database)), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_database(self, name: str, template: str | None = None) -> str:
        self._sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def fresh_database(self, name: str | None = None, *, use_template: bool = True) -> str:
        """A new, migrated database; its URL. Migrations run once per server
        (into a template database), later databases are copies of it."""
        name = name or f"chaos_{uuid.uuid4().hex[:10]}"
        if not use_template:
            url = self.create_database(name)
            migrate(url)
            return url
        if not self._database_exists(TEMPLATE_DATABASE):
            building = f"{TEMPLATE_DATABASE}_building_{os.getpid()}"
            self.drop_database(building)
            migrate(self.create_database(building))
            self._sql(f'ALTER DATABASE "{building}" RENAME TO "{TEMPLATE_DATABASE}"')
        return self.create_database(name, template=TEMPLATE_DATABASE)

    def _database_exists(self, name: str) -> bool:
        import psycopg

        with psycopg.connect(_libpq(self.url()), autocommit=True, connect_timeout=10) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    def wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(_libpq(self.url()), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class PrivatePostgres(Postgres):
    """A throw-away PostgreSQL in `data_dir` (created and removed by this
    object), from the binaries of the `pgserver` package; Unix socket only.

    `fsync=off` by default: a fast-mode restart is a clean shutdown, so it
    changes nothing the chaos checks can see, and it spares a shared disk.
    """

    def __init__(self, data_dir: str | Path, *, fsync: bool = False, keep: bool = False, max_connections: int = 200):
        self.data_dir = Path(data_dir).resolve()
        self.fsync = fsync
        self.keep = keep
        self.max_connections = max_connections
        self.user = "pgserver" if os.geteuid() == 0 else None
        self.created = True

    @property
    def private(self) -> bool:  # type: ignore[override]  # a class attribute on Postgres, a fact of the instance here
        return self.created

    @classmethod
    def existing(cls, data_dir: str | Path) -> PrivatePostgres:
        """An already running pgserver/embedded server (e.g. the project's
        .pgdata): restarted with its own pg_ctl as its owner, never stopped
        or removed by this object."""
        server = cls(data_dir, keep=True)
        owner = pwd.getpwuid(server.data_dir.stat().st_uid).pw_name
        server.user = owner if os.geteuid() == 0 and owner != "root" else None
        server.created = False
        return server

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@/{database}?host={self.data_dir}"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [str(_pg_bin() / tool), *args],
            user=self.user,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
        if result.returncode:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")

    def start(self) -> PrivatePostgres:
        if not (self.data_dir / "PG_VERSION").exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(parents=True)
            if self.user:
                entry = pwd.getpwnam(self.user)
                os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=utf8")
        self._start()
        return self

    def _start(self) -> None:
        # Unix socket only (-h ''), in the data directory: never a TCP port.
        options = (
            f"-h '' -k {self.data_dir} -c max_connections={self.max_connections}"
            f" -c fsync={'on' if self.fsync else 'off'} -c full_page_writes={'on' if self.fsync else 'off'}"
        )
        if not self.created:  # someone else's server: start it as it was started
            options = (self.data_dir / "postmaster.opts").read_text().split(" ", 1)[1].replace('"', "'")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data_dir / "log"),
            "-o",
            options,
            "start",
        )
        self.wait_ready()

    def restart(self, mode: str = "fast") -> float:
        started = time.monotonic()
        # pg_ctl restart reuses the options the server was started with (postmaster.opts).
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            "60",
            "-m",
            mode,
            "-l",
            str(self.data_dir / "log"),
            "restart",
        )
        return time.monotonic() - started

    def outage(self, seconds: float, mode: str = "fast") -> float:
        started = time.monotonic()
        options_file = self.data_dir / "postmaster.opts"
        saved = options_file.read_text() if options_file.exists() else None
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-m", mode, "stop")
        time.sleep(seconds)
        if saved is not None and not self.created:
            options_file.write_text(saved)
        self._start()
        return time.monotonic() - started

    def stop(self) -> None:
        if not self.created:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "30", "-m", "fast", "stop")
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ServicePostgres(Postgres):
    """The machine's PostgreSQL service (Debian `pg_ctlcluster`), reached at
    the host and port of `database_url`. Restarting it disconnects everyone
    using it: for an operator's run on a dedicated machine only."""

    def __init__(self, database_url: str, version: str | None = None, cluster: str | None = None):
        self.base_url = database_url
        parts = urlsplit(database_url)
        self.port = parts.port or 5432
        found = _cluster_on_port(self.port)
        self.version = version or (found[0] if found else "15")
        self.cluster = cluster or (found[1] if found else "main")

    def url(self, database: str = "postgres") -> str:
        parts = urlsplit(self.base_url)
        return parts._replace(path=f"/{database}").geturl()

    def restart(self, mode: str = "fast") -> float:
        started = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.cluster, "restart", "-m", mode],
            check=True,
            timeout=120,
        )
        return time.monotonic() - started

    def outage(self, seconds: float, mode: str = "fast") -> float:
        started = time.monotonic()
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.cluster]
        subprocess.run([*command, "stop", "-m", mode], check=True, timeout=120)
        time.sleep(seconds)
        subprocess.run([*command, "start"], check=True, timeout=120)
        return time.monotonic() - started


class UnmanagedPostgres(Postgres):
    """A server this process cannot or must not restart (another host, a
    container..., the project's own server the load-test tools use)."""

    restartable = False

    def __init__(self, database_url: str):
        self.base_url = database_url

    def url(self, database: str = "postgres") -> str:
        return urlsplit(self.base_url)._replace(path=f"/{database}").geturl()

    def restart(self, mode: str = "fast") -> float:
        raise RuntimeError("This PostgreSQL is not managed by the harness; it cannot restart it.")


def _cluster_on_port(port: int) -> tuple[str, str] | None:
    try:
        output = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == str(port):
            return fields[0], fields[1]
    return None


def postgres_for(database_url: str | None, *, data_dir: str | Path | None = None) -> Postgres:
    """The server to run against: a private one when no URL is given; for a
    URL whose socket directory is a pgserver/embedded data directory, that
    server (pg_ctl); the machine's service for a URL on this host
    (127.0.0.1/localhost: pg_ctlcluster); else an unmanaged server (no
    restart phase)."""
    if not database_url:
        return PrivatePostgres(data_dir or f"/tmp/chaos-pg-{os.getpid()}")
    parts = urlsplit(database_url)
    socket_dir = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair).get("host", "")
    if socket_dir.startswith("/") and (Path(socket_dir) / "postmaster.pid").exists():
        return PrivatePostgres.existing(socket_dir)  # a pgserver/embedded server: pg_ctl -D <datadir>
    host = parts.hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        return ServicePostgres(database_url)
    return UnmanagedPostgres(database_url)


def _libpq(url: str) -> str:
    """psycopg wants `postgresql://`; Django's URLs say `postgres://`; both are libpq URIs."""
    return url.replace("postgres://", "postgresql://", 1)


# --- the API under gunicorn or granian -----------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    for port in PORT_RANGE:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"No free port in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}.")


class ApiServer:
    """The API on 127.0.0.1 under `python -m config.serve`: `server` is
    "gunicorn" (gunicorn.conf.py) or "granian"; None means $SERVER, else the
    project's default (config/serve.py).

    `env` overrides settings for this server only, e.g.
    `ApiServer(url, env={"DB_LOCK_TIMEOUT_MS": 300})` (None unsets a
    variable). `port` defaults to a free one in 18300-18399. The server's
    output (gunicorn and Django logs) goes to `log_path`. If it does not
    become healthy, `start` stops it and raises with the log's tail.
    """

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 4,
        server: str | None = None,
        port: int | None = None,
        env: dict | None = None,
        log_path: str | Path | None = None,
        start_timeout: float = 60,
    ):
        self.database_url = database_url
        self.workers = workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = {"LOG_LEVEL": "WARNING", **({"SERVER": server} if server else {}), **(env or {})}
        self.server = self.extra_env.get("SERVER") or os.environ.get("SERVER") or "default server"
        self.log_path = Path(log_path or f"/tmp/chaos-server-{self.port}-{os.getpid()}.log")
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> ApiServer:
        env = django_env(
            self.database_url,
            HOST="127.0.0.1",
            PORT=str(self.port),
            WEB_CONCURRENCY=str(self.workers),
            **self.extra_env,
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                # gunicorn runs with no control socket: its default path is shared by
                # every gunicorn of the user, and a stopping master removes it.
                [_python(), "-m", "config.serve"],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the harness does not reach it first
            )
        try:
            self.wait_healthy(self.start_timeout, workers=self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def master_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(self.master_pid).children()]
        except psutil.NoSuchProcess:
            return []

    def kill_worker(self, pid: int | None = None) -> int | None:
        """SIGKILLs one worker (a random one by default); the master replaces it."""
        import random

        pids = self.worker_pids()
        if pid is None:
            if not pids:
                return None
            pid = random.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return pid

    def wait_healthy(self, timeout: float = 30, workers: int = 0) -> float:
        """Waits for GET /healthz to answer 200 (and `workers` workers to run);
        returns the seconds waited."""
        started = time.monotonic()
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the server ({self.server}) exited with {self.process.returncode}; see {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if (
                    requests.get(self.url + "/healthz", timeout=2).status_code == 200
                    and len(self.worker_pids()) >= workers
                ):
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"{self.url}/healthz not healthy after {timeout} s; see {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, start: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int | None:
        """Sends `sig` to the master and waits for it; SIGKILLs the process
        group if it is still alive after `timeout` seconds. Returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- data -------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """Tokens for the seeded users: `sellers` is [{"seller_id", "token"}, ...]."""

    staff_token: str
    sellers: list[dict]
    credit: int


def seed(database_url: str, *, sellers: int, credit: int, commission_rate: int = 0) -> Seed:
    """Creates a staff user and `sellers` sellers, each funded with `credit`
    rials through an approved credit request (the services, as in production)
    and earning `commission_rate` basis points on every operator."""
    data = json.loads(
        run_django(database_url, "-m", "loadtests.dbtasks", "seed", str(sellers), str(credit), str(commission_rate))
    )
    return Seed(staff_token=data["staff_token"], sellers=data["sellers"], credit=credit)


def database_facts(database_url: str) -> dict:
    """What the database holds, for the money checks (see dbtasks.facts)."""
    return json.loads(run_django(database_url, "-m", "loadtests.dbtasks", "facts", timeout=600))
