from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0014_staff_groups_for_the_catalogue")]

    operations = [run_sql_file(__file__)]
