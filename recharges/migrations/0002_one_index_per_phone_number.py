"""Phone numbers keep one unique index on e164, under a name of ours.

Renames the existing UNIQUE constraint and drops its pattern-matching twin
concurrently: re-creating the constraint would rebuild the index under an
exclusive lock that stalls every sale.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("recharges", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="phonenumber",
                    name="e164",
                    field=models.CharField(max_length=16),
                ),
                migrations.AddConstraint(
                    model_name="phonenumber",
                    constraint=models.UniqueConstraint(fields=("e164",), name="phone_number_e164_unique"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE recharges_phonenumber "
                    "RENAME CONSTRAINT recharges_phonenumber_e164_key TO phone_number_e164_unique",
                    "ALTER TABLE recharges_phonenumber "
                    "RENAME CONSTRAINT phone_number_e164_unique TO recharges_phonenumber_e164_key",
                ),
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS recharges_phonenumber_e164_9a39f94f_like",
                    "CREATE INDEX CONCURRENTLY recharges_phonenumber_e164_9a39f94f_like "
                    "ON recharges_phonenumber (e164 varchar_pattern_ops)",
                ),
            ],
        ),
    ]
