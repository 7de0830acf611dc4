from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0011_catalogue_and_commission"), ("ledger", "0009_limits_and_commissions")]

    operations = [run_sql_file(__file__)]
