"""A real gunicorn serving the project, for tests that need real HTTP,
real worker processes and real sockets.

    base_url = start(database_url, workers=4)
    ...
    stop(base_url)

The server runs `gunicorn -c gunicorn.conf.py config.wsgi` from the project
root, exactly as `make run` does, with PORT, WEB_CONCURRENCY and DATABASE_URL
set; its log goes to a temporary file that `log_tail` reads.
"""

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
PORTS = range(18100, 18200)
BOOT_TIMEOUT = 60
STOP_TIMEOUT = 40

_servers: dict[str, subprocess.Popen] = {}
_logs: dict[str, Path] = {}


def start(database_url: str, workers: int = 4, **environment: str) -> str:
    """Starts gunicorn on a free port in 18100-18199 and returns its base URL
    once /healthz answers 200; raises (with the log) if it does not boot."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix=f"gunicorn-{port}-", suffix=".log")[1])
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": str(workers), "DATABASE_URL": database_url, **environment}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py", "config.wsgi"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    _servers[base_url] = process
    _logs[base_url] = log
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return base_url
        except requests.RequestException:
            pass
        time.sleep(0.2)  # polling for boot, not hiding a race
    tail = log_tail(base_url)
    stop(base_url)
    raise RuntimeError(f"gunicorn did not become healthy on {base_url}:\n{tail}")


def stop(base_url: str) -> int | None:
    """SIGTERM (graceful: in-flight requests finish), SIGKILL if it hangs;
    returns the master's exit code."""
    process = _servers.pop(base_url, None)
    if process is None or process.poll() is not None:
        return process and process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)


def log_tail(base_url: str, lines: int = 60) -> str:
    """The last lines of the server's log (errors, tracebacks)."""
    log = _logs.get(base_url)
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log else ""


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18100-18199")
