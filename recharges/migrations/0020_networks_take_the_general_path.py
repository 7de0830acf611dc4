from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    dependencies = [("recharges", "0019_operators_named_in_persian"), ("sellers", "0008_networks_for_api_tokens")]

    operations = [run_sql_file(__file__)]
