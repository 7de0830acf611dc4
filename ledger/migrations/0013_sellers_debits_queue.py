from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("ledger", "0012_adjustment_rejection")]

    operations = [run_sql_file(__file__)]
