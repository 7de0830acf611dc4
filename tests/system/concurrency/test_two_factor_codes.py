"""One code, typed in many sessions at once (threads released by one
barrier, each with its own database connection): exactly one session is
let in, for an authenticator's code and for a recovery code. The device's
row lock (config/two_factor.py verify) makes the check-and-use one step."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from config import two_factor
from tests.helpers.otp import code_for
from tests.portal.helpers import PASSWORD, with_password

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = 6


def _all_at_once(code: str, clients: list[Client]) -> list[int]:
    barrier = threading.Barrier(len(clients))

    def type_code(client: Client) -> int:
        try:
            barrier.wait(timeout=30)
            return client.post("/admin/two-factor/", {"code": code}).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(type_code, clients))


def _past_the_password(user) -> list[Client]:
    clients = []
    for _ in range(SESSIONS):
        client = Client()
        assert client.post("/admin/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
        clients.append(client)
    return clients


@pytest.mark.parametrize("kind", ["authenticator", "recovery"])
def test_one_code_lets_in_one_session(kind):
    boss = with_password(get_user_model().objects.create_superuser("boss", "boss@example.com", "unused"))
    device, codes = two_factor.enrol_for_operator(boss)
    code = code_for(device) if kind == "authenticator" else codes[0]
    statuses = _all_at_once(code, _past_the_password(boss))
    assert sorted(statuses) == [200] * (SESSIONS - 1) + [302]  # 302: let in; 200: the page again, with the refusal
