from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0016_number_limit_keeps_its_plan")]

    operations = [run_sql_file(__file__)]
