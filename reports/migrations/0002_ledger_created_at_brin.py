"""A BRIN index on the ledger's created_at, for reads by time (reports,
exports, the dashboard, summarize_days). The ledger is append-only and
created_at grows with it, so a few block ranges answer a day's question, and
the index costs an insert almost nothing (no B-tree entry per row). Built
concurrently: no lock that would stop sales on a large ledger."""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reports", "0001_initial"),
        ("ledger", "0004_sell_recharge_by_token"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ledger_entry_created_at_brin ON ledger_ledgerentry USING brin (created_at)",
            "DROP INDEX CONCURRENTLY IF EXISTS ledger_entry_created_at_brin",
        ),
    ]
