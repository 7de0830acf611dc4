"""Staff keys kept apart from the seller's own (issue 10, item 8), and room
for keys of requests that create a seller (item 12).

A nullable `staff_user`; `seller` becomes nullable. UNIQUE (seller, key) now
holds only where staff_user IS NULL (the sellers' own keys; its name is the
one the sale SQL catches), and UNIQUE (seller, staff_user, key) where it is
not. Indexes are built concurrently and swapped in one short transaction;
the seller foreign key is not re-created (Django's AlterField would drop and
re-validate it, locking sellers_seller).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "idempotency_idempotencyrecord"

DATABASE = [
    migrations.RunSQL(
        f"ALTER TABLE {TABLE} ADD COLUMN staff_user_id integer NULL"
        " CONSTRAINT idempotency_idempote_staff_user_id_6372725b_fk_auth_user"
        " REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED",
        f"ALTER TABLE {TABLE} DROP COLUMN staff_user_id",
    ),
    migrations.RunSQL(
        f"ALTER TABLE {TABLE} ALTER COLUMN seller_id DROP NOT NULL",
        f"ALTER TABLE {TABLE} ALTER COLUMN seller_id SET NOT NULL",
    ),
    migrations.RunSQL(
        f"CREATE UNIQUE INDEX CONCURRENTLY idempotency_key_unique_per_seller_partial"
        f" ON {TABLE} (seller_id, key) WHERE staff_user_id IS NULL",
        "DROP INDEX CONCURRENTLY IF EXISTS idempotency_key_unique_per_seller_partial",
    ),
    migrations.RunSQL(
        f"ALTER TABLE {TABLE} DROP CONSTRAINT idempotency_key_unique_per_seller;"
        " ALTER INDEX idempotency_key_unique_per_seller_partial RENAME TO idempotency_key_unique_per_seller",
        f"ALTER INDEX idempotency_key_unique_per_seller RENAME TO idempotency_key_unique_per_seller_partial;"
        f" ALTER TABLE {TABLE} ADD CONSTRAINT idempotency_key_unique_per_seller UNIQUE (seller_id, key)",
    ),
    migrations.RunSQL(
        f"CREATE UNIQUE INDEX CONCURRENTLY idempotency_key_unique_per_staff_user"
        f" ON {TABLE} (seller_id, staff_user_id, key) NULLS NOT DISTINCT WHERE staff_user_id IS NOT NULL",
        "DROP INDEX CONCURRENTLY IF EXISTS idempotency_key_unique_per_staff_user",
    ),
    migrations.RunSQL(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT idempotency_record_has_a_scope"
        " CHECK (seller_id IS NOT NULL OR staff_user_id IS NOT NULL) NOT VALID;"
        f" ALTER TABLE {TABLE} VALIDATE CONSTRAINT idempotency_record_has_a_scope",
        f"ALTER TABLE {TABLE} DROP CONSTRAINT idempotency_record_has_a_scope",
    ),
]

STATE = [
    migrations.RemoveConstraint(model_name="idempotencyrecord", name="idempotency_key_unique_per_seller"),
    migrations.AddField(
        model_name="idempotencyrecord",
        name="staff_user",
        field=models.ForeignKey(
            db_index=False,
            null=True,
            on_delete=django.db.models.deletion.CASCADE,
            related_name="+",
            to=settings.AUTH_USER_MODEL,
        ),
    ),
    migrations.AlterField(
        model_name="idempotencyrecord",
        name="seller",
        field=models.ForeignKey(
            db_index=False,
            null=True,
            on_delete=django.db.models.deletion.CASCADE,
            related_name="+",
            to="sellers.seller",
        ),
    ),
    migrations.AddConstraint(
        model_name="idempotencyrecord",
        constraint=models.UniqueConstraint(
            condition=models.Q(("staff_user__isnull", True)),
            fields=("seller", "key"),
            name="idempotency_key_unique_per_seller",
        ),
    ),
    migrations.AddConstraint(
        model_name="idempotencyrecord",
        constraint=models.UniqueConstraint(
            condition=models.Q(("staff_user__isnull", False)),
            fields=("seller", "staff_user", "key"),
            name="idempotency_key_unique_per_staff_user",
            nulls_distinct=False,
        ),
    ),
    migrations.AddConstraint(
        model_name="idempotencyrecord",
        constraint=models.CheckConstraint(
            condition=models.Q(("seller__isnull", False), ("staff_user__isnull", False), _connector="OR"),
            name="idempotency_record_has_a_scope",
        ),
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("idempotency", "0003_cheaper_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.SeparateDatabaseAndState(database_operations=DATABASE, state_operations=STATE)]
