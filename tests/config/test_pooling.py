"""Behind PgBouncer in transaction mode (DB_TRANSACTION_POOLING=true) the
timeouts cannot travel as startup options: they are the role's defaults,
set by `manage.py set_role_timeouts`, and hold on connections that send no
options at all."""

import io
import json
import os

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from loadtests.server import run_django
from tests.helpers.workers import current_database_url

ROLE = f"timeouts_test_{os.getpid()}"

_SHOW_DATABASE_SETTINGS = (
    "from django.conf import settings; import json; d = settings.DATABASES['default'];"
    " print(json.dumps({'options': d.get('OPTIONS', {}).get('options'),"
    " 'server_side_cursors_off': d.get('DISABLE_SERVER_SIDE_CURSORS', False)}))"
)


@pytest.mark.parametrize(
    "pooling, expected",
    [
        ("false", {"options": "-c statement_timeout=7000 -c lock_timeout=3000", "server_side_cursors_off": False}),
        ("true", {"options": None, "server_side_cursors_off": True}),
    ],
)
def test_startup_options_only_without_a_transaction_pool(db, pooling, expected):
    out = run_django(
        current_database_url(),
        "manage.py",
        "shell",
        "-c",
        _SHOW_DATABASE_SETTINGS,
        DB_TRANSACTION_POOLING=pooling,
        DB_STATEMENT_TIMEOUT_MS="7000",
        DB_LOCK_TIMEOUT_MS="3000",
    )
    assert json.loads(out.strip().splitlines()[-1]) == expected


@pytest.fixture
def login_role(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {ROLE} LOGIN")
    yield ROLE
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE {ROLE}")


def test_role_defaults_hold_on_a_connection_without_startup_options(login_role, settings):
    settings.DB_STATEMENT_TIMEOUT_MS = 7000
    settings.DB_LOCK_TIMEOUT_MS = 3000
    call_command("set_role_timeouts", login_role, stdout=io.StringIO())
    params = connection.get_connection_params()
    params.pop("options", None)  # as PgBouncer connects: no startup options
    params.pop("cursor_factory", None)
    params["user"] = login_role
    params.pop("password", None)
    with psycopg.connect(**{key: value for key, value in params.items() if key != "context"}) as plain:
        shown = [
            plain.execute(f"SHOW {name}").fetchall()[0][0] for name in ("statement_timeout", "lock_timeout", "TimeZone")
        ]
    assert shown == ["7s", "3s", "UTC"]


def test_role_names_are_checked(db):
    with pytest.raises(CommandError, match="Role names"):
        call_command("set_role_timeouts", "bad-name; DROP TABLE x")
