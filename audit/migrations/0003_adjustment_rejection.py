from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    """The trail records who rejected a waiting adjustment (audit/sql/audit_record.sql)."""

    dependencies = [("audit", "0002_triggers"), ("ledger", "0012_adjustment_rejection")]

    operations = [run_sql_file(__file__)]
