"""Listing reads on a streaming replica, by opting in (docs/scaling.md §3).

A router cannot see transactions, idempotency or why a query is made, so the
default stays the primary for everything; only a view method wrapped in
`listing_on_replica` sends its ORM reads to `DATABASES["replica"]`. Raw SQL
through `django.db.connection` (auth, the sale, idempotency lookups) is always
`default` and no router moves it. Without DATABASE_REPLICA_URL the router is
not installed and the decorator changes nothing.
"""

import contextvars
import functools
from collections.abc import Callable
from typing import Any

REPLICA = "replica"

# A contextvar, not a thread-local: correct under threads and under asyncio alike.
listing = contextvars.ContextVar("listing", default=False)


class ListingReadsToReplica:
    """No opinion on writes, relations or migrations: all stay on `default`."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return REPLICA if listing.get() else None


def listing_on_replica(*, unless_param: str | None = None) -> Callable:
    """Wraps a view's `get`: its reads go to the replica, except when the query
    string carries `unless_param` (e.g. `idempotency_key`: a terminal that lost
    a sale's answer must see it at once, whatever the replica's lag)."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if unless_param is not None and unless_param in request.query_params:
                return method(self, request, *args, **kwargs)
            token = listing.set(True)
            try:
                return method(self, request, *args, **kwargs)
            finally:
                listing.reset(token)

        return wrapper

    return decorate
