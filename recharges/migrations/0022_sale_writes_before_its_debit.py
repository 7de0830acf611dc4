from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0021_operator_floats"), ("ledger", "0013_sellers_debits_queue")]

    operations = [run_sql_file(__file__)]
