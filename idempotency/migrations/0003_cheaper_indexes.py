"""The seller foreign key loses its own index: UNIQUE (seller, key) serves.

Only the index goes, concurrently: AlterField alone would drop and re-add the
foreign key, holding an exclusive lock on sellers_seller (every sale and every
authentication) while it re-checks every stored record.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("idempotency", "0002_throttle_cache_table"),
        ("sellers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="seller",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="sellers.seller",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS idempotency_idempotencyrecord_seller_id_2adc9f66",
                    "CREATE INDEX CONCURRENTLY idempotency_idempotencyrecord_seller_id_2adc9f66 "
                    "ON idempotency_idempotencyrecord (seller_id)",
                ),
            ],
        ),
    ]
