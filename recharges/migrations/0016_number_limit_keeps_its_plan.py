from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0015_fix_final_status_checked_on_insert")]

    operations = [run_sql_file(__file__)]
