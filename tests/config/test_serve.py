"""The launcher refuses a server it does not know before it starts anything."""

import subprocess
import sys

from loadtests.server import BASE_DIR, django_env


def test_an_unknown_server_is_refused_with_the_choices():
    result = subprocess.run(
        [sys.executable, "-m", "config.serve"],
        cwd=BASE_DIR,
        env=django_env("postgres://nowhere/none", SERVER="uwsgi", PORT="8453"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "SERVER='uwsgi': expected one of gunicorn, granian" in result.stderr
