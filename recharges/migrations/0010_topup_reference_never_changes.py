from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0009_topup_reference")]

    operations = [run_sql_file(__file__)]
