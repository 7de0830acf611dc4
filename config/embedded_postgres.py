"""The embedded PostgreSQL used when no DATABASE_URL is given.

The `pgserver` package ships the PostgreSQL server binaries, so a machine with
only Python can run the project and its tests on the real engine. Every process
that calls `database_url()` registers with the same server (data in `.pgdata/`,
listening on a Unix socket there); the server stops when the last one exits.
"""

import warnings
from pathlib import Path


def database_url(data_dir: Path) -> str:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@/postgres?host={socket_dir}"
