"""How many gunicorn sync workers to run when WEB_CONCURRENCY is not set."""

import os

MAX_DEFAULT_WORKERS = 8


def workers() -> int:
    """WEB_CONCURRENCY, else CPUs + 1, chosen with `make bench`: on the 2-core
    box shared with PostgreSQL, 3 workers matched 4 on spread sales and kept 2
    hot sellers at 0.91-0.99 of the spread rate where 4 managed 0.83-0.86
    (docs/scaling.md). Capped because inside a container os.cpu_count() sees
    the host's CPUs, and every worker holds a database connection."""
    return int(os.environ.get("WEB_CONCURRENCY") or min((os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS))
