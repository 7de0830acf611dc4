"""Each recharge gets `topup_reference`, the UUID the operator knows its
top-up by (contract v1.2: the recharge id collides across databases).

Built without holding an exclusive lock for more than a moment, since each
one stalls every sale: the column is added empty (no table rewrite), new
sales get their UUID from its default at once, the sold rows are filled in
batches of short transactions, NOT NULL is proven by a CHECK validated
under a weaker lock, and the unique index is built concurrently.
"""

from django.contrib.postgres.functions import RandomUUID
from django.db import migrations, models

BATCH = 10_000


def give_sold_recharges_their_reference(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM recharges_recharge")
        last = cursor.fetchone()[0]
        # Rows sold from here on have their reference from the default.
        for start in range(0, last, BATCH):
            cursor.execute(
                "UPDATE recharges_recharge SET topup_reference = gen_random_uuid()"
                " WHERE id > %s AND id <= %s AND topup_reference IS NULL",
                [start, start + BATCH],
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("recharges", "0008_rendering_keeps_its_plan")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="recharge",
                    name="topup_reference",
                    field=models.UUIDField(
                        "top-up reference",
                        db_default=RandomUUID(),
                        editable=False,
                        help_text="What the operator knows the top-up by: sent with it and with every status query.",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="recharge",
                    constraint=models.UniqueConstraint(
                        fields=("topup_reference",), name="recharge_topup_reference_unique"
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE recharges_recharge ADD COLUMN topup_reference uuid;"
                    " ALTER TABLE recharges_recharge ALTER COLUMN topup_reference SET DEFAULT gen_random_uuid();",
                    "ALTER TABLE recharges_recharge DROP COLUMN topup_reference;",
                ),
                migrations.RunPython(give_sold_recharges_their_reference, migrations.RunPython.noop),
                migrations.RunSQL(
                    "ALTER TABLE recharges_recharge ADD CONSTRAINT recharge_topup_reference_not_null"
                    " CHECK (topup_reference IS NOT NULL) NOT VALID;"
                    " ALTER TABLE recharges_recharge VALIDATE CONSTRAINT recharge_topup_reference_not_null;"
                    # A moment's exclusive lock: the valid CHECK spares the scan.
                    " ALTER TABLE recharges_recharge ALTER COLUMN topup_reference SET NOT NULL;"
                    " ALTER TABLE recharges_recharge DROP CONSTRAINT recharge_topup_reference_not_null;",
                    "ALTER TABLE recharges_recharge ALTER COLUMN topup_reference DROP NOT NULL;",
                ),
                migrations.RunSQL(
                    "CREATE UNIQUE INDEX CONCURRENTLY recharge_topup_reference_unique"
                    " ON recharges_recharge (topup_reference);",
                    "DROP INDEX CONCURRENTLY IF EXISTS recharge_topup_reference_unique;",
                ),
                migrations.RunSQL(
                    "ALTER TABLE recharges_recharge ADD CONSTRAINT recharge_topup_reference_unique"
                    " UNIQUE USING INDEX recharge_topup_reference_unique;",
                    "ALTER TABLE recharges_recharge DROP CONSTRAINT recharge_topup_reference_unique;",
                ),
            ],
        ),
    ]
