"""A BRIN index on the recharges' created_at, for settlement, which reads an
operator's recharges of one day. Recharges are inserted in time order, so a
few block ranges answer a day, and the index costs a sale almost nothing (no
B-tree entry per row). Built concurrently: no lock that would stop sales."""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("settlement", "0001_initial"),
        ("recharges", "0021_operator_floats"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS recharge_created_at_brin ON recharges_recharge USING brin (created_at)",
            "DROP INDEX CONCURRENTLY IF EXISTS recharge_created_at_brin",
        ),
    ]
