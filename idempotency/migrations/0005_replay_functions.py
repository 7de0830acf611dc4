from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("idempotency", "0004_staff_keys_apart_from_sellers")]

    operations = [run_sql_file(__file__)]
