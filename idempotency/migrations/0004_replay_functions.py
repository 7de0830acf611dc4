from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("idempotency", "0003_cheaper_indexes")]

    operations = [run_sql_file(__file__)]
