"""The cluster of `make cluster` (loadtests/cluster.py), run for real: PostgreSQL
primary + streaming replica, a PgBouncer each, two app servers with their
delivery workers, the simulator, HAProxy; each host in its own network
namespace where `ip netns` works, else on 127.0.0.1.

Skipped when Debian's haproxy or pgbouncer is not installed (.ci/run installs both).
"""

import pytest

from loadtests.cluster import (
    Cluster,
    check_live_core,
    check_load_and_kill,
    check_replica_lag,
    missing_balancer_or_pooler,
)

MISSING = missing_balancer_or_pooler()

pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (apt-get install -y haproxy pgbouncer)"
)


@pytest.fixture(scope="module")
def cluster():
    with Cluster(web_concurrency=2) as running:
        print("\n" + running.endpoints())
        yield running


def test_sales_through_haproxy_keep_the_books_while_an_app_server_is_killed(cluster):
    report = check_load_and_kill(cluster, processes=3, threads=3, warmup=4, after_kill=6)
    print("\n" + report.table())
    assert report.ok, [f"{check.name}: {check.detail}" for check in report.violations]
    assert report.money["sales acknowledged (201)"] > 200
    assert report.faults["app server killed"] == "app1"
    # The killed server comes back and HAProxy sends it traffic again.
    cluster.start_app("app1")
    cluster.wait_app("app1")
    cluster.wait_backend(("app1",), up=True)


def test_the_live_parallel_test_through_haproxy_keeps_the_books(cluster):
    # After the kill test: its checks count every recharge in the database as its clients'.
    check = check_live_core(cluster)
    print("\n" + check.detail)
    assert check.ok, check.detail


def test_a_lookup_by_key_is_never_stale_while_the_replica_lags(cluster):
    checks = check_replica_lag(cluster)
    assert all(check.ok for check in checks), [f"{check.name}: {check.detail}" for check in checks if not check.ok]
