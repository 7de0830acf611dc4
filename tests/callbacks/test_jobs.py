"""The job queue's housekeeping: jobs are wake-ups, so the ones nobody needs go."""

from django.db import connection

from callbacks.tasks import prune_jobs


def _job(task: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('callbacks', %s, 0, NULL, NULL, '{}'::jsonb, NULL)"
            "::procrastinate_job_to_defer_v1]))",
            [task],
        )
        return cursor.fetchone()[0]


def _jobs() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name, status FROM procrastinate_jobs WHERE task_name LIKE 'prune-test-%'")
        return dict(cursor.fetchall())


def test_prune_jobs_deletes_old_failures_and_jobs_of_dead_workers(db):
    _, failed_long_ago, failed_just_now, orphaned = (
        _job(f"prune-test-{name}") for name in ("waiting", "failed-long-ago", "failed-just-now", "orphaned")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = ANY(%s)",
            [[failed_long_ago, failed_just_now, orphaned]],
        )
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = ANY(%s)", [[failed_long_ago, failed_just_now]]
        )
        cursor.execute(
            "UPDATE procrastinate_events SET at = now() - interval '2 hours' WHERE job_id = %s AND type = 'failed'",
            [failed_long_ago],
        )
    assert _jobs() == {
        "prune-test-waiting": "todo",
        "prune-test-failed-long-ago": "failed",
        "prune-test-failed-just-now": "failed",
        "prune-test-orphaned": "doing",
    }

    prune_jobs()

    assert _jobs() == {"prune-test-waiting": "todo", "prune-test-failed-just-now": "failed"}
