from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [
        ("callbacks", "0001_initial"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [run_sql_file(__file__)]
