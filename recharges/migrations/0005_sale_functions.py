from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [
        ("recharges", "0004_operators"),
        ("ledger", "0007_post_debits"),
        ("idempotency", "0005_replay_functions"),
    ]

    operations = [run_sql_file(__file__)]
