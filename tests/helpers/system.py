"""Helpers for the live-server system tests of issue 10 (ports 8100-8149)."""

import socket

from loadtests.server import ApiServer
from tests.helpers.workers import current_database_url

PORTS = range(8100, 8150)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"No free port in {PORTS.start}-{PORTS.stop - 1}.")


def live_server(workers: int = 4, **env) -> ApiServer:
    """gunicorn serving the pytest-django test database (use as a context manager)."""
    return ApiServer(
        current_database_url(), workers=workers, port=free_port(), env={key: str(value) for key, value in env.items()}
    )


def raw_connection(autocommit: bool = False):
    """A psycopg connection of its own to the test database, outside Django."""
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"],
        port=s["PORT"] or None,
        autocommit=autocommit,
    )


def wait_for(condition, timeout: float = 30, what: str = "condition") -> None:
    """Polls `condition()` (a database state another thread is expected to
    reach, e.g. a backend waiting for a lock) until it holds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def backends_waiting_for_a_lock(observer) -> int:
    with observer.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
