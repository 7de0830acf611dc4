"""A database outage outside DRF is a 503, not a 500 (config.middleware).

DRF views already answer 503 (config.exceptions); the admin and middleware
that touch the database (sessions, auth) would let Django answer 500.
"""

from unittest import mock

from django.conf import settings
from django.db import OperationalError
from django.test import Client, override_settings

MIDDLEWARE = "config.middleware.DatabaseUnavailableMiddleware"


def _middleware(with_ours: bool) -> list[str]:
    listed = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE]
    if with_ours:
        listed.insert(listed.index("django.contrib.sessions.middleware.SessionMiddleware"), MIDDLEWARE)
    return listed


def _admin_with_session_while_database_is_down():
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32
    down = OperationalError("connection to server failed: No such file or directory")
    with mock.patch("django.contrib.sessions.backends.db.SessionStore.load", side_effect=down):
        return client.get("/admin/")


def test_without_the_middleware_the_admin_answers_500_during_an_outage():
    with override_settings(MIDDLEWARE=_middleware(with_ours=False)):
        assert _admin_with_session_while_database_is_down().status_code == 500


def test_with_the_middleware_the_admin_answers_the_contract_503():
    with override_settings(MIDDLEWARE=_middleware(with_ours=True)):
        response = _admin_with_session_while_database_is_down()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"]


class _FailingMiddleware:
    """Stands for a middleware that queries the database (e.g. a session save)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("server closed the connection unexpectedly")


def test_an_outage_in_a_later_middleware_is_a_503():
    listed = _middleware(with_ours=True)
    listed.insert(listed.index(MIDDLEWARE) + 1, f"{__name__}._FailingMiddleware")
    with override_settings(MIDDLEWARE=listed):
        response = Client(raise_request_exception=False).get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"]


def test_other_errors_are_left_alone():
    listed = _middleware(with_ours=True)
    with (
        override_settings(MIDDLEWARE=listed),
        mock.patch("config.views.HealthView.get", side_effect=RuntimeError("a bug")),
    ):
        response = Client(raise_request_exception=False).get("/healthz")
    assert response.status_code == 500
