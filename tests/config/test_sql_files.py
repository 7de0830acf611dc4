"""The database runs exactly the SQL in the apps' sql/ files (config/sql.py):
a function's body as PostgreSQL stores it must equal its file's, and every
trigger a file creates must exist on its table. A file changed without a
migration that loads it fails here."""

import re

import pytest
from django.db import connection

from config.sql import current_sql_files

FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION (\w+)\((.*?)\).*?AS \$\$(.*?)\$\$;", re.S)
TRIGGER = re.compile(r"CREATE (?:OR REPLACE |CONSTRAINT )?TRIGGER (\w+)\s.*?\sON (\w+)", re.S)
FILES = current_sql_files()


def test_every_app_keeps_its_sql_in_files():
    assert {path.parent.parent.name for path in FILES} >= {"idempotency", "ledger", "recharges", "credits"}


@pytest.mark.parametrize("path", FILES, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_the_database_runs_the_file(db, path):
    text = path.read_text()
    functions = FUNCTION.findall(text)
    assert functions, f"{path} defines no function"
    with connection.cursor() as cursor:
        for name, _, body in functions:
            cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [name])
            assert [row[0] for row in cursor.fetchall()] == [body], f"{name} differs from {path}"
        for trigger, table in TRIGGER.findall(text):
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass", [trigger, table]
            )
            assert cursor.fetchone()[0] == 1, f"trigger {trigger} on {table} is missing"
