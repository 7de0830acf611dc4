"""Production never falls back to the embedded PostgreSQL (issue 10, item 13;
issue 18, item 5: every entry point, not only manage.py)."""

import os
import subprocess
import sys

import pytest

from loadtests.server import free_port
from tests.config.test_deploy_settings import ROOT
from tests.helpers.project_copy import project_copy, stop_group, wait_until

REFUSAL = "DJANGO_ENV=production needs DATABASE_URL"


def production_env(**extra: str) -> dict:
    # As on a production host whose environment lacks DATABASE_URL.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(DJANGO_ENV="production", SECRET_KEY="k" * 30 + "-0123456789-production", **extra)
    return env


def test_production_refuses_to_start_without_a_database_url():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert REFUSAL in result.stderr


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_production_servers_refuse_to_start_without_a_database_url(tmp_path, server):
    """`python -m config.serve` once started the embedded PostgreSQL in the
    server's master (gunicorn.conf.py, the granian path) before the settings
    could refuse, and served: .pgdata appeared and /healthz answered 200."""
    project = project_copy(tmp_path / "project")
    process = subprocess.Popen(
        [sys.executable, "-m", "config.serve"],
        cwd=project,
        env=production_env(SERVER=server, PORT=str(free_port())),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        refused = wait_until(lambda: process.poll() is not None or (project / ".pgdata").exists(), timeout=60)
        assert not (project / ".pgdata").exists(), "the embedded PostgreSQL was started"
        assert refused and process.returncode != 0
    finally:
        stop_group(process)
    assert REFUSAL in process.stderr.read()
