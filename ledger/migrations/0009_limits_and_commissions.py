from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_commission_entries"), ("sellers", "0005_limits_and_low_balance")]

    operations = [run_sql_file(__file__)]
