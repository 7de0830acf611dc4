"""System tests: live servers, concurrency, chaos, hostile input, reliability.
The root conftest marks every test here `system` (`make test-fast` skips them)."""

import os

import pytest

from loadtests.server import PrivatePostgres


@pytest.fixture(scope="session")
def private_postgres():
    """A PostgreSQL server of this test session's own: the chaos runs restart
    it and the reliability tests hold locks and stop servers, so it is never
    a server anyone else uses (not even DATABASE_URL's). Each test works in a
    fresh database on it."""
    with PrivatePostgres(f"/tmp/private-pg-{os.getpid()}") as server:
        yield server
