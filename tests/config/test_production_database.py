"""Production never falls back to the embedded PostgreSQL (issue 10, item 13)."""

import os
import subprocess
import sys

from tests.config.test_deploy_settings import ROOT


def test_production_refuses_to_start_without_a_database_url():
    # As on a production host whose environment lacks DATABASE_URL.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(DJANGO_ENV="production", SECRET_KEY="k" * 30 + "-0123456789-production")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "DJANGO_ENV=production needs DATABASE_URL" in result.stderr
