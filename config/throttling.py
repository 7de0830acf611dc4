"""Rate limits whose counters live in the shared cache (Redis or PostgreSQL),
so every worker process sees the same counts."""

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


class SellerRateThrottle(SimpleRateThrottle):
    """Optional per-seller request rate (SELLER_RATE_LIMIT, e.g. "200/second");
    off by default, so the hot path pays nothing for it."""

    scope = "seller"

    def get_cache_key(self, request, view):
        seller = getattr(request.user, "seller", None) if request.user else None
        if seller is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": seller.pk}


def count_auth_failure(request) -> None:
    """Counts a failed authentication for the client's address in fixed
    windows; past the limit the client gets 429 until its window ends, and
    Retry-After says when that is.

    Only failures cost a cache write; a valid token is never throttled here.
    """
    window = settings.AUTH_FAILURE_WINDOW_SECONDS
    now = time.time()
    window_ends = (now // window + 1) * window
    seconds_left = math.ceil(window_ends - now)
    # The client's address: REMOTE_ADDR, or behind TRUSTED_PROXIES proxies the
    # X-Forwarded-For entry the outermost of them added (DRF's NUM_PROXIES rule).
    address = (BaseThrottle().get_ident(request) or "")[:64]
    key = f"auth-failures:{address}:{int(window_ends)}"
    failures = 1
    if not cache.add(key, failures, timeout=seconds_left):
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, failures, timeout=seconds_left)
        cache.touch(key, seconds_left)  # the database cache's incr() resets the timeout
    if failures > settings.AUTH_FAILURE_LIMIT:
        raise Throttled(wait=window_ends - now)
