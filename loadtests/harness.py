"""Plumbing shared by the load-test tools (run_loadtest, bench): a scratch
database, migrate and seed, a gunicorn to test (loadtests/server.py's
ApiServer, as every other tool and test uses), CPU accounting.

The scratch database lives on the project's own PostgreSQL server: the one
DATABASE_URL names, or, with no DATABASE_URL, the embedded server that
config/embedded_postgres.py starts (this process registers with it, so it
stays up until we are done). Nothing here touches the database DATABASE_URL
names except to connect to its server.
"""

import os
import resource
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psutil
import psycopg

from loadtests.server import BASE_DIR, ApiServer, UnmanagedPostgres

BIN = Path(sys.executable).parent  # the venv's bin: locust
OUT_DIR = BASE_DIR / "loadtests" / "out"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def server_url() -> str:
    """The URL of the project's PostgreSQL server (any database on it)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    sys.path.insert(0, str(BASE_DIR))
    from config.embedded_postgres import database_url

    return database_url(BASE_DIR / ".pgdata")


def connection_params(url: str) -> dict:
    """libpq parameters (host, port, user, password, dbname) from a database URL,
    for tools that take them one by one (pgbench)."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "host": query.get("host") or parts.hostname or "",
        "port": str(query.get("port") or parts.port or ""),
        "user": unquote(parts.username or "") or query.get("user", ""),
        "password": unquote(parts.password or ""),
        "dbname": parts.path.lstrip("/") or "postgres",
    }


@contextmanager
def scratch_database(prefix: str, *, keep: bool = False):
    """Creates `<prefix>_<timestamp>_<pid>` on the project's server, yields its
    URL, and drops it afterwards (unless `keep`)."""
    server = UnmanagedPostgres(server_url())  # never restarted here
    name = f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    url = server.create_database(name)
    log(f"created scratch database {name}")
    try:
        yield url
    finally:
        if keep:
            log(f"kept scratch database {name} (drop it with: DROP DATABASE {name};)")
        else:
            server.drop_database(name)
            log(f"dropped scratch database {name}")


def child_env(database_url: str, **extra: str) -> dict:
    """The environment for manage.py: the scratch database, development settings."""
    env = {**os.environ, "DATABASE_URL": database_url, **extra}
    env.pop("DJANGO_ENV", None)
    return env


def manage(env: dict, *args: str, quiet: bool = False, tree: Path = BASE_DIR) -> None:
    """manage.py of `tree` (this checkout, or another commit's code)."""
    output = subprocess.DEVNULL if quiet else None
    subprocess.run([sys.executable, "manage.py", *args], cwd=tree, env=env, check=True, stdout=output)


def prepare(env: dict, *, sellers: int, credit: int, seed_path: Path, tree: Path = BASE_DIR) -> None:
    """Migrates the scratch database and seeds funded sellers into it, with
    the code in `tree`."""
    started = time.monotonic()
    manage(env, "migrate", "--noinput", quiet=True, tree=tree)
    log(f"migrated in {time.monotonic() - started:.1f} s")
    manage(env, "seed_loadtest", "--sellers", str(sellers), "--credit", str(credit), "--out", str(seed_path), tree=tree)


def check_port_free(port: int) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is already in use; choose another one")


@contextmanager
def gunicorn(database_url: str, *, workers: int, port: int, log_path: Path, **env: str):
    """The service under test on 127.0.0.1:port (an ApiServer), with development
    settings (no DJANGO_ENV, as `child_env`) and the caller's LOG_LEVEL;
    stopped with SIGTERM (in-flight requests finish) when the block ends."""
    check_port_free(port)
    server = ApiServer(
        database_url,
        workers=workers,
        port=port,
        log_path=log_path,
        env={"DJANGO_ENV": None, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"), **env},
    )
    try:
        server.start()
    except (RuntimeError, TimeoutError) as error:
        raise SystemExit(str(error)) from None
    log(f"{server.server} (pid {server.master_pid}, {workers} workers) up at {server.url}")
    try:
        yield server
    finally:
        server.stop(timeout=35)
        log(f"{server.server} stopped")


def postmaster_pid(database_url: str) -> int | None:
    """The PostgreSQL server's main process, if it runs on this machine."""
    host = connection_params(database_url)["host"]
    if host and not host.startswith("/") and host not in ("127.0.0.1", "localhost", "::1"):
        return None  # a remote server: its process ids mean nothing here
    try:
        with psycopg.connect(database_url) as connection:
            (backend,) = connection.execute("SELECT pg_backend_pid()").fetchone() or (None,)
            parent = psutil.Process(backend).ppid()
    except (psycopg.Error, psutil.Error):
        return None
    return parent or None


def tree_cpu_seconds(root_pid: int | None) -> float | None:
    """CPU seconds used so far by a process tree: every live process's own time
    plus the time of the children it has reaped, so processes that come and go
    during a measurement (PostgreSQL backends, replaced workers) still count."""
    if root_pid is None:
        return None
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def child_count(pid: int | None) -> int | None:
    """How many children a process has (zombies included), if it runs here."""
    try:
        return None if pid is None else len(psutil.Process(pid).children())
    except psutil.Error:
        return None


def wait_for_reaping(pid: int | None, most: int | None, timeout: float = 5.0) -> None:
    """Waits (up to `timeout`, polling every 50 ms) until `pid` has no more
    than `most` children. A PostgreSQL backend that exited when its client
    disconnected, but that the postmaster has not reaped yet, can fall out of
    `tree_cpu_seconds` (neither live nor in the postmaster's reaped time), so
    its CPU would be lost from the measurement."""
    deadline = time.monotonic() + timeout
    while most is not None and time.monotonic() < deadline:
        count = child_count(pid)
        if count is None or count <= most:
            return
        time.sleep(0.05)


def reaped_children_cpu_seconds() -> float:
    """CPU seconds of this process's finished children (the load generators)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class CpuSplit:
    """CPU used during one measurement by the server, PostgreSQL, the load
    generator and everything else on the machine: `seconds` (CPU seconds) and
    `cores` (CPU seconds / wall seconds). At the end it first waits for the
    postmaster to reap the backends that exited during the measurement."""

    def __init__(self, server_pid: int | None, postgres_pid: int | None):
        self.server_pid, self.postgres_pid = server_pid, postgres_pid

    def _snapshot(self) -> dict:
        return {
            "wall": time.monotonic(),
            "server": tree_cpu_seconds(self.server_pid),
            "postgres": tree_cpu_seconds(self.postgres_pid),
            "generator": reaped_children_cpu_seconds(),
            "machine": machine_busy_seconds(),
        }

    def __enter__(self):
        self.postgres_children = child_count(self.postgres_pid)
        self.start = self._snapshot()
        return self

    def __exit__(self, *exc_info):
        wait_for_reaping(self.postgres_pid, self.postgres_children)
        end = self._snapshot()
        wall = end["wall"] - self.start["wall"]
        self.seconds: dict[str, float | None] = {}
        self.cores: dict[str, float | None] = {}
        for part in ("server", "postgres", "generator", "machine"):
            if end[part] is None or self.start[part] is None:
                self.seconds[part] = self.cores[part] = None
            else:
                used = end[part] - self.start[part]
                self.seconds[part], self.cores[part] = used, used / wall
        known = sum(value for part, value in self.cores.items() if part != "machine" and value is not None)
        machine = self.cores["machine"]
        self.cores["other"] = None if machine is None else max(0.0, machine - known)
        return False


def render_table(headers: list[str], rows: list[list], *, align_left: int = 1) -> str:
    """A plain-text table; the first `align_left` columns are left-aligned."""
    cells = [[str(value) for value in row] for row in [headers, *rows]]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]

    def line(row):
        return "  ".join(
            value.ljust(width) if index < align_left else value.rjust(width)
            for index, (value, width) in enumerate(zip(row, widths, strict=False))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])
