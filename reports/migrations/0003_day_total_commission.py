"""Day totals gain the day's commissions. Commission entries exist since
ledger 0008, so days already summed may hold some: their rows are summed
again from those entries alone (in the time zone the rows were summed in),
not guessed as 0. Not atomic: the column is added and committed at once, and
the backfill that reads the ledger holds no lock that would stop a report."""

from django.db import migrations, models

BACKFILL = """
UPDATE reports_daytotal t
   SET commission_amount = c.amount
  FROM (SELECT seller_id, day, sum(amount) AS amount
          FROM (SELECT e.seller_id, e.amount, (e.created_at AT TIME ZONE s.time_zone)::date AS day
                  FROM ledger_ledgerentry e, reports_summarystate s
                 WHERE e.kind = 'commission') entries
         GROUP BY GROUPING SETS ((seller_id, day), (day))) c
 WHERE t.day = c.day AND t.seller_id IS NOT DISTINCT FROM c.seller_id
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reports", "0002_ledger_created_at_brin"),
        ("ledger", "0009_limits_and_commissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="daytotal",
            name="commission_amount",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
