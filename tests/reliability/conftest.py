"""A private PostgreSQL for the live-server reliability tests: they hold
locks and stop servers, so they never share a server with anyone."""

import os

import pytest

from loadtests.server import PrivatePostgres


@pytest.fixture(scope="session")
def private_postgres():
    with PrivatePostgres(f"/tmp/chaos-pg-reliability-{os.getpid()}") as server:
        yield server
