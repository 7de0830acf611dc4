from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0012_reseller_business")]

    operations = [run_sql_file(__file__)]
