"""The embedded PostgreSQL used when no DATABASE_URL is given.

The `pgserver` package ships the PostgreSQL server binaries, so a machine with
only Python can run the project and its tests on the real engine. Every process
that calls `database_url()` registers with the same server (data in `.pgdata/`,
listening on a Unix socket there); the server stops when the last one exits.

Every entry point (manage.py through the settings, gunicorn.conf.py, the
granian launcher) gets its database through `use_database_url()`, which holds
the one rule that production never runs on the embedded server.
"""

import os
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

        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@/postgres?host={socket_dir}"
