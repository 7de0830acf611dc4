from django.db import migrations

from config.sql import run_sql_file


class Migration(migrations.Migration):
    """The append-only rule and the triggers that fill the trail (audit/sql/)."""

    dependencies = [
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("knox", "0009_extend_authtoken_field"),
        ("callbacks", "0006_persian_names"),
        ("credits", "0006_four_eyes"),
        ("ledger", "0011_adjustment_four_eyes"),
        ("recharges", "0020_networks_take_the_general_path"),
        ("sellers", "0008_networks_for_api_tokens"),
    ]

    operations = [run_sql_file(__file__)]
