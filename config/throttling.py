"""Rate limits whose counters live in the shared cache (Redis or PostgreSQL),
so every worker process sees the same counts."""

import time
from functools import lru_cache

from django.conf import settings
from django.db import connection
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from config.models import AuthFailureWindow


class SellerRateThrottle(SimpleRateThrottle):
    """Optional per-seller request rate (SELLER_RATE_LIMIT, e.g. "200/second");
    off by default, so the hot path pays nothing for it."""

    scope = "seller"

    def get_cache_key(self, request, view):
        seller = getattr(request.user, "seller", None) if request.user else None
        if seller is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": seller.pk}


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXIES proxies
    the X-Forwarded-For entry the outermost of them added (DRF's NUM_PROXIES
    rule). Also the address the admin's login throttle (django-axes) counts."""
    return (BaseThrottle().get_ident(request) or "")[:64]


def count_auth_failure(request) -> None:
    """Counts a failed authentication for the client's address in fixed
    windows; past the limit the client gets 429 until its window ends, and
    Retry-After says when that is.

    Only failures cost a write; a valid token is never throttled here. The
    count is one atomic operation (Redis INCR, or one PostgreSQL upsert), so
    concurrent failures in many processes cannot overwrite each other, and a
    counter is never evicted while its window is open (a cache would cull it).
    """
    window = settings.AUTH_FAILURE_WINDOW_SECONDS
    now = time.time()
    window_ends = int((now // window + 1) * window)
    address = client_address(request)
    count = _count_in_redis if settings.REDIS_URL else _count_in_postgres
    if count(address, window_ends) > settings.AUTH_FAILURE_LIMIT:
        raise Throttled(wait=window_ends - now)


_WINDOWS = AuthFailureWindow._meta.db_table
_UPSERT = f"""
    INSERT INTO {_WINDOWS} (address, window_ends, failures) VALUES (%s, %s, 1)
    ON CONFLICT (address, window_ends) DO UPDATE SET failures = {_WINDOWS}.failures + 1
    RETURNING failures
"""  # noqa: S608 - the table name comes from the model; values are parameters


def _count_in_postgres(address: str, window_ends: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [address, window_ends])
        failures = cursor.fetchone()[0]
        if failures == 1:
            # A new window: drop the ended ones (of every address), so the
            # table holds about one window's worth of failing addresses.
            cursor.execute(f"DELETE FROM {_WINDOWS} WHERE window_ends < %s", [int(time.time())])  # noqa: S608 - as above
    return failures


@lru_cache(maxsize=1)
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _count_in_redis(address: str, window_ends: int) -> int:
    # The key expires when its window ends; run Redis with a maxmemory policy
    # that never evicts keys before that (noeviction), as for any counter.
    key = f"auth-failures:{address}:{window_ends}"
    failures, _ = _redis().pipeline().incr(key).expireat(key, window_ends + 1).execute()
    return failures
