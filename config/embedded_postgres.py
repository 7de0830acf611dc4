"""The embedded PostgreSQL used when no DATABASE_URL is given.

The `pgserver` package ships the PostgreSQL server binaries, so a machine with
only Python can run the project and its tests on the real engine. Every process
that calls `database_url()` registers with the same server (data in `.pgdata/`,
listening on a Unix socket there); the server stops when the last one exits.
pgserver keeps that list as process ids in `.pgdata/.handle_pids.json`, and a
process leaves it only through its exit handler, which stops the server only
if that process was the last listed and had seen the server start. A process
ended by SIGTERM's default action (honcho stopping `make run` while its
processes start) or by SIGKILL stayed listed forever; one stopped while
pgserver was starting the server left it running unseen: either way the
server ran on, orphaned. So a process that registers exits normally on
SIGTERM, and after pgserver's exit handler, `stop_if_unused` strikes dead
processes from the list and stops the server if no live one is left. A
process SIGKILLed runs no handler at all (honcho kills one that takes over 5 s
to stop, as a loaded machine can make it), so `make run` also calls
`stop_if_unused` once honcho has ended (config/make_run.py).

Every entry point (manage.py through the settings, gunicorn.conf.py, the
granian launcher) gets its database through `use_database_url()`, which holds
the one rule that production never runs on the embedded server.
"""

import atexit
import json
import os
import signal
import threading
import warnings
from pathlib import Path

PRODUCTION_REFUSAL = (
    "DJANGO_ENV=production needs DATABASE_URL (postgres://user:pass@host:5432/db); "
    "the embedded PostgreSQL is for development only."
)


def use_database_url(data_dir: Path) -> None:
    """Leaves a given DATABASE_URL alone; else exports the embedded server's,
    starting it in `data_dir`, unless DJANGO_ENV=production (settings.PRODUCTION):
    production data must never land in a directory of the code checkout.

    The refusal is a SystemExit with the reason: each entry point, gunicorn's
    config loader included, prints it as it is and exits with status 1."""
    if "DATABASE_URL" in os.environ:
        return
    if os.environ.get("DJANGO_ENV") == "production":
        raise SystemExit(PRODUCTION_REFUSAL)
    os.environ["DATABASE_URL"] = database_url(data_dir)


def database_url(data_dir: Path) -> str:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver

        _exit_normally_on_sigterm()
        # Exit handlers run last registered first: this one after pgserver's.
        atexit.register(stop_if_unused, data_dir)
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@/postgres?host={socket_dir}"


def _exit_normally_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so exit handlers run, unless the process
    already handles it (gunicorn, the workers set their own handlers later,
    which end the process normally too)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum, frame):
    raise SystemExit(128 + signum)


def stop_if_unused(data_dir: Path) -> None:
    """Stops the server on `data_dir` unless a live process other than this
    one is listed as using it."""
    import psutil  # pgserver's dependencies
    from pgserver.postgres_server import PostgresServer

    handles = data_dir / ".handle_pids.json"
    with PostgresServer._lock:  # pgserver's own, around its list and every start
        listed = _listed(handles)
        alive = [pid for pid in listed if pid != os.getpid() and _alive(pid)]
        if alive != listed:
            handles.write_text(json.dumps(alive))
        postmaster = None if alive else _postmaster(data_dir)
        if postmaster is not None:
            postmaster.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
            try:
                postmaster.wait(10)
            except psutil.TimeoutExpired:
                postmaster.kill()


def _listed(handles: Path) -> list[int]:
    """The process ids pgserver lists; none when a process killed while
    writing the file left it torn (then nobody can be known to use the server)."""
    try:
        listed = json.loads(handles.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [pid for pid in listed if isinstance(pid, int)] if isinstance(listed, list) else []


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _postmaster(data_dir: Path):
    """The server running on `data_dir` (the first line of its postmaster.pid), if any."""
    import psutil

    try:
        postmaster = psutil.Process(int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0]))
        return postmaster if postmaster.name() == "postgres" else None
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None
