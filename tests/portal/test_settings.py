import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_COOKIE_FLAGS = (
    "from django.conf import settings as s; "
    "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE)"
)


def _cookie_flags(**environment: str) -> str:
    env = {**os.environ, **environment}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_COOKIE_FLAGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_portal_cookies_are_secure_in_production():
    assert _cookie_flags(DJANGO_ENV="production", SECRET_KEY="k" * 50) == "True True True True"


def test_development_cookies_work_over_plain_http():
    assert _cookie_flags(DJANGO_ENV="development") == "False True False False"
