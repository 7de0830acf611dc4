"""Once created the throttle counters' cache table; config migration 0001
creates it now (the throttles are plumbing), so this step does nothing and
stays only because databases have it recorded and 0003 follows it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("idempotency", "0001_initial")]

    operations = []
