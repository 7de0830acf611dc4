from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("callbacks", "0002_job_queue")]

    operations = [run_sql_file(__file__)]
