"""Helpers for the live-server system tests of issue 10 (ports 8100-8149)."""

import socket

from loadtests.server import ApiServer
from tests.concurrency.workers import current_database_url

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
    return ApiServer(current_database_url(), workers=workers, port=free_port(), env={key: str(value) for key, value in env.items()})
