"""A copy of the project's code in a directory of its own, for tests that
start its entry points as a user would: what they create (`.pgdata`, an
embedded PostgreSQL) is then theirs alone, never this checkout's, which the
test session itself uses."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_NOT_CODE = shutil.ignore_patterns(
    ".git", ".venv", ".pgdata", ".metrics", "__pycache__", "*_cache", ".hypothesis", "staticfiles", "*.sqlite3*"
)


def project_copy(destination: Path) -> Path:
    """The code copied to `destination`, with `.venv` pointing at this interpreter's environment."""
    shutil.copytree(ROOT, destination, ignore=_NOT_CODE)
    (destination / ".venv").symlink_to(sys.prefix)
    return destination


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the process group `process` leads (started with
    start_new_session=True), as a terminal or a supervisor stops it; then waits."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(condition, timeout: float) -> bool:
    """Polls `condition()` every 0.1 s for up to `timeout` seconds; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
