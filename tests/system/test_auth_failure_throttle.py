"""The failed-authentication throttle is atomic and never evicted while its
window is open (issue 10, item 5).

Before: the database cache's incr() read then wrote, so 200 bad tokens from
40 threads got 200 x 401 and no 429; and after 400 other addresses failed
once, the cache culled the first address's counter, which then got 30 more
tries in the same window.
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.test import RequestFactory
from rest_framework.exceptions import Throttled

from config.throttling import count_auth_failure
from tests.helpers.system import live_server

LIMIT = 30
# Fixed windows start at multiples of their length: a window this long is
# never crossed during a test, so the counts are exact.
WINDOW = 10**6


def fail_from(address: str) -> bool:
    """One failed authentication from `address`; True if it was throttled."""
    try:
        count_auth_failure(RequestFactory().get("/api/v1/me/", REMOTE_ADDR=address))
    except Throttled:
        return True
    return False


@pytest.mark.django_db
def test_a_counter_survives_many_other_addresses(settings):
    settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS = LIMIT, WINDOW
    assert [fail_from("10.1.0.1") for _ in range(LIMIT)] == [False] * LIMIT
    for number in range(400):
        fail_from(f"10.2.{number // 250}.{number % 250}")
    assert fail_from("10.1.0.1") is True


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_from_many_processes_are_all_counted():
    with live_server(workers=4, AUTH_FAILURE_LIMIT=LIMIT, AUTH_FAILURE_WINDOW_SECONDS=WINDOW) as api:

        def bad_token(number: int) -> int:
            headers = {"Authorization": f"Token bad-{number:064d}"}
            return requests.get(f"{api.url}/api/v1/me/", headers=headers, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = Counter(pool.map(bad_token, range(200)))
    assert statuses == {401: LIMIT, 429: 200 - LIMIT}
