"""SQL kept in files, so that each database function can be read and reviewed.

The current version of every function and trigger lives in one file per object
under its app's `sql/` folder. A migration never reads those files: it runs a
versioned copy in `migrations/sql/<migration name>.sql` (forward SQL, then a
line `--- reverse`, then the SQL that undoes it), so migrating from scratch
replays history exactly. tests/config/test_sql_files.py checks that the
database runs what the current files say.
"""

from pathlib import Path

from django.db import migrations

REVERSE_MARK = "\n--- reverse\n"


def run_sql_file(migration_file: str) -> migrations.RunSQL:
    """The RunSQL for the migration `migration_file` (pass `__file__`)."""
    path = Path(migration_file)
    forward, mark, reverse = (path.parent / "sql" / f"{path.stem}.sql").read_text().partition(REVERSE_MARK)
    if not mark:
        raise ValueError(f"{path.stem}.sql has no '--- reverse' line")
    return migrations.RunSQL(forward, reverse)


def current_sql_files() -> list[Path]:
    """Every app's current SQL files (<app>/sql/*.sql)."""
    root = Path(__file__).resolve().parent.parent
    return sorted(root.glob("*/sql/*.sql"))
