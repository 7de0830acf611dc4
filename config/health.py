"""Readiness: can this server do its work now?

`/healthz` is liveness (the process answers and reaches the database);
`/readyz` adds what a deploy or an orchestrator waits for: every migration
of this code applied, and the delivery queue moving (the oldest due pending
recharge has waited less than READY_QUEUE_MAX_AGE_SECONDS; 0 turns the
check off, e.g. where a load balancer polls /readyz and a stuck worker
should page someone rather than take the web servers out of rotation).
"""

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from config.metrics import delivery_queue

# Migrations are never unapplied under a running server: once this code's
# migrations are all applied, the (slow: it reads every migration file) plan
# need not be computed again in this process.
_migrated = False


def _migrations_applied() -> bool:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrated


def readiness() -> tuple[bool, dict]:
    """(ready, {"database", "migrations", "queue": "ok" or why not, "oldest_due_seconds"})."""
    state = {"database": "ok", "migrations": "ok", "queue": "unknown", "oldest_due_seconds": None}
    try:
        if not _migrations_applied():
            return False, {**state, "migrations": "pending"}
        _, _, oldest = delivery_queue()
    except DatabaseError:
        return False, {**state, "database": "unreachable", "migrations": "unknown"}
    limit = settings.READY_QUEUE_MAX_AGE_SECONDS
    stuck = bool(limit) and oldest > limit
    return not stuck, {**state, "queue": "stuck" if stuck else "ok", "oldest_due_seconds": round(oldest, 3)}
