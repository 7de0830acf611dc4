"""The live parallel test through a real PgBouncer in transaction mode.

gunicorn (4 workers) reaches PostgreSQL only through PgBouncer, with
DB_TRANSACTION_POOLING=true (no startup options), and the timeouts set on
the role by `set_role_timeouts`: 2,016 sales, top-ups and adjustments from
nine processes keep the books exact, and a pooled connection carries the
role's timeouts. Skipped when Debian's `pgbouncer` is not installed
(.ci/run installs it).
"""

import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from loadtests.server import ApiServer, free_port
from tests.system.live.test_parallel_load import run_and_check

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed (apt-get install -y pgbouncer)"),
]


class PgBouncer:
    """A private PgBouncer in transaction mode in front of the test database."""

    def __init__(self, settings_dict: dict):
        self.database = settings_dict["NAME"]
        self.user = settings_dict["USER"]
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-test-"))
        host = settings_dict["HOST"] or "127.0.0.1"
        # PgBouncer refuses to run as root: as root, run it as the owner of
        # the database's socket directory (it must reach the socket), else nobody.
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
        (self.dir / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"""[databases]
{self.database} = host={host} port={settings_dict["PORT"] or 5432} dbname={self.database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/userlist.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 200
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
"""
        )
        if self.run_as:
            for path in [self.dir, *self.dir.iterdir()]:
                shutil.chown(path, user=self.run_as)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def __enter__(self):
        command = [PGBOUNCER, *(["-u", self.run_as] if self.run_as else []), str(self.dir / "pgbouncer.ini")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "pgbouncer.log").read_text() if (self.dir / "pgbouncer.log").exists() else ""
                    raise RuntimeError(f"pgbouncer did not start:\n{log[-3000:]}") from None
                time.sleep(0.1)

    def __exit__(self, *exc):
        # SIGINT: safe shutdown, its server connections closed before the test database is dropped.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pgbouncer(transactional_db):
    call_command("set_role_timeouts", stdout=io.StringIO())
    with PgBouncer(connection.settings_dict) as bouncer:
        yield bouncer


def test_pooled_connections_carry_the_role_timeouts(pgbouncer):
    with psycopg.connect(pgbouncer.url, autocommit=True) as pooled:
        shown = [
            pooled.execute(f"SHOW {name}").fetchall()[0][0]
            for name in ("statement_timeout", "lock_timeout", "TimeZone")
        ]
    assert shown == ["10s", "5s", "UTC"]


def test_2000_parallel_recharges_through_pgbouncer_keep_the_books(pgbouncer, staff_user):
    with ApiServer(pgbouncer.url, workers=4, env={"DB_TRANSACTION_POOLING": "true"}) as api:
        run_and_check(api, staff_user, retries=False)
