"""Automatic failover with synchronous replication (`make ha`, loadtests/ha.py),
run for real: a pg_auto_failover monitor, a primary and its synchronous
standby, a PgBouncer beside each, two app servers with their delivery
workers, the simulator and HAProxy. Under steady sales the primary's machine
dies (keeper, PostgreSQL and PgBouncer SIGKILLed); the standby is promoted,
the app servers find it by themselves, and not one acknowledged sale is lost
or doubled.

Skipped when Debian's pg_auto_failover, haproxy or pgbouncer is not installed
(.ci/run installs them).
"""

import pytest

from loadtests.ha import HACluster, fail_over, missing_failover_manager, settle_deliveries
from loadtests.server import seed

MISSING = missing_failover_manager()

pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"missing: {', '.join(MISSING)} "
    "(apt-get install -y postgresql-15-auto-failover pg-auto-failover-cli haproxy pgbouncer)",
)


def test_the_primary_dies_under_sales_and_no_acknowledged_sale_is_lost_or_doubled():
    with HACluster(web_concurrency=2) as cluster:
        print("\n" + cluster.endpoints())
        seeded = seed(cluster.primary_url, sellers=8, credit=100_000_000)
        result = fail_over(cluster, seeded.sellers, processes=2, threads=4, warmup=4)
        print("\n" + result.table())
        settled = settle_deliveries(cluster)
        assert result.killed == "db1" and result.promoted == "db2"
        assert result.figures["answered 201"] > 200
        assert result.ok, [f"{check.name}: {check.detail}" for check in result.checks if not check.ok]
        assert all(check.ok for check in settled), [f"{check.name}: {check.detail}" for check in settled]
