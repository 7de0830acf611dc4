from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    # api_time() is the recharges app's (0005_sale_functions).
    dependencies = [("callbacks", "0004_balance_low_events"), ("recharges", "0005_sale_functions")]

    operations = [run_sql_file(__file__)]
