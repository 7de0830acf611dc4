import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage_in_production(*args: str, **environment: str) -> subprocess.CompletedProcess:
    """manage.py with DJANGO_ENV=production and only the given SECRET_KEY, if any."""
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    env.update(DJANGO_ENV="production", **environment)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_with_production_settings():
    result = manage_in_production(
        "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY="k" * 30 + "-0123456789-production"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = manage_in_production("check")
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr
