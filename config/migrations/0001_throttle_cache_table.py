"""The PostgreSQL table behind Django's database cache, which holds the
throttle counters when no REDIS_URL is set (shared by every worker process).

It moved here from idempotency migration 0002 (the throttles are plumbing, not
idempotency). `createcachetable` skips a table that exists, so on a database
that ran the old migration this keeps the table and its rows as they are.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
