"""A private PostgreSQL for the chaos runs: the restart phase restarts it,
so it is never a server anyone else uses (not even DATABASE_URL's)."""

import os

import pytest

from loadtests.server import PrivatePostgres


@pytest.fixture(scope="session")
def private_postgres():
    with PrivatePostgres(f"/tmp/chaos-pg-chaos-{os.getpid()}") as server:
        yield server
