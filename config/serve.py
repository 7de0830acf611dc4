"""`python -m config.serve`: the one way to start the API's HTTP server.

`SERVER=gunicorn` (the default, see DEFAULT_SERVER) or `SERVER=granian`. Both
honour the same environment: HOST, PORT, WEB_CONCURRENCY (worker processes,
config/workers.py), GRACEFUL_TIMEOUT (seconds SIGTERM lets in-flight requests
finish), ACCESS_LOG (gunicorn: a path or `-`; granian: any value turns it on,
to standard error) and, with no DATABASE_URL, the embedded PostgreSQL, which
the server's master process starts before it forks its workers and keeps
until it exits. What differs between the two is in the README ("HTTP server").

gunicorn is configured by gunicorn.conf.py (this process becomes gunicorn).
granian runs its WSGI interface in this process, with its own settings:

  GRANIAN_BLOCKING_THREADS     Python threads per worker that run the app (1)
  GRANIAN_BACKPRESSURE         requests a worker accepts at once, the rest wait
                               in the listen backlog (64)
  GRANIAN_HEADER_TIMEOUT_MS    a client that has not sent its headers by then
                               is disconnected (10000)
  GRANIAN_WORKERS_LIFETIME     seconds before a worker is replaced (unset: never; >= 60)
  GRANIAN_WORKERS_MAX_RSS      MiB of resident memory before a worker is replaced (unset: never)
"""

import os
import sys
from pathlib import Path

from config.embedded_postgres import use_database_url
from config.workers import workers

BASE_DIR = Path(__file__).resolve().parent.parent
SERVERS = ("gunicorn", "granian")
# Chosen by `make bench` and the live, SIGTERM and chaos tests (README, "HTTP server").
DEFAULT_SERVER = "gunicorn"


def chosen_server() -> str:
    server = os.environ.get("SERVER") or DEFAULT_SERVER
    if server not in SERVERS:
        raise SystemExit(f"SERVER={server!r}: expected one of {', '.join(SERVERS)}")
    return server


def graceful_timeout() -> int:
    return int(os.environ.get("GRACEFUL_TIMEOUT") or os.environ.get("GUNICORN_GRACEFUL_TIMEOUT") or "30")


def _optional_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def run_gunicorn() -> None:
    config = str(BASE_DIR / "gunicorn.conf.py")
    os.chdir(BASE_DIR)
    # exec, not a child: gunicorn's master gets the signals (SIGTERM, HUP) directly.
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c", config, "--no-control-socket", "config.wsgi"])  # noqa: S606


def run_granian() -> None:
    # Imported here: a gunicorn deployment never loads granian.
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    # Started here (refused in production), in the master, before the workers fork: they inherit the URL.
    use_database_url(BASE_DIR / ".pgdata")
    server = Server(
        "config.wsgi:application",
        address=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        workers=workers(),
        blocking_threads=int(os.environ.get("GRANIAN_BLOCKING_THREADS", "1")),
        # Each blocking thread holds a database connection (CONN_MAX_AGE); a
        # bounded queue per worker keeps latency honest instead of hiding it.
        backpressure=int(os.environ.get("GRANIAN_BACKPRESSURE", "64")),
        http1_settings=HTTP1Settings(header_read_timeout=int(os.environ.get("GRANIAN_HEADER_TIMEOUT_MS", "10000"))),
        log_level=LogLevels(os.environ.get("GRANIAN_LOG_LEVEL", "warning")),
        log_access=bool(os.environ.get("ACCESS_LOG") or os.environ.get("GUNICORN_ACCESS_LOG")),
        respawn_failed_workers=True,
        respawn_interval=1.0,
        workers_lifetime=_optional_int("GRANIAN_WORKERS_LIFETIME"),
        workers_max_rss=_optional_int("GRANIAN_WORKERS_MAX_RSS"),
        workers_kill_timeout=graceful_timeout(),
        working_dir=BASE_DIR,
    )
    server.serve()


def main() -> None:
    sys.path.insert(0, str(BASE_DIR))
    if chosen_server() == "gunicorn":
        run_gunicorn()
    else:
        run_granian()


if __name__ == "__main__":
    main()
