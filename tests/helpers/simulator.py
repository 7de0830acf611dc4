"""The simulator as a real subprocess on a free port of this suite's range.

Other test runs (another worktree, CI) may use the same range at the same
time, so a port counts as ours only once our own process answers on it."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from recharges.gateway import HttpGateway

REPO = Path(__file__).resolve().parents[2]
PORTS = range(8250, 8300)


def bound_socket() -> socket.socket:
    """A socket bound (not listening) to a port of the range: connections to it are refused,
    and while it is open no other process can take the port."""
    for port in PORTS:
        candidate = socket.socket()
        try:
            candidate.bind(("127.0.0.1", port))
        except OSError:
            candidate.close()
            continue
        return candidate
    raise RuntimeError(f"no free port in {PORTS}")


def free_port() -> int:
    with bound_socket() as probe:
        return probe.getsockname()[1]


class SimulatorProcess:
    def __init__(self, db: Path, *, latency_ms: float = 0, error_rate: float = 0.0, hang_seconds: float = 30):
        self.db = db
        self.options = ["--latency-ms", str(latency_ms), "--error-rate", str(error_rate)]
        self.options += ["--hang-seconds", str(hang_seconds)]
        # Held, bound but not listening, until start(): meanwhile the port refuses
        # connections (a gateway that is down) and no other run can take it.
        self._reservation: socket.socket | None = bound_socket()
        self.port = self._reservation.getsockname()[1]
        self._started = False
        self._process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Starts on its port; the first time, on another free port if that one was taken meanwhile.
        A restart keeps the port (clients still point at it) or fails."""
        self._release()
        for _ in range(5):
            if self._start_on(self.port):
                self._started = True
                return
            if self._started:
                raise RuntimeError(f"port {self.port} was taken while the simulator was stopped")
            self.port = free_port()
        raise RuntimeError("the simulator could not start on a free port")

    def _start_on(self, port: int) -> bool:
        command = [sys.executable, "-m", "simulator", "--port", str(port), "--db", str(self.db), *self.options]
        self._process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False  # most likely the port was taken between the probe and the bind
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1).json()["pid"] == self._process.pid:
                    return True
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.05)
        self._process.kill()
        raise RuntimeError("the simulator did not answer within 15 s")

    def stop(self) -> None:
        self._release()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: no chance to close anything cleanly."""
        self._process.kill()
        self._process.wait(timeout=10)

    def _release(self) -> None:
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None

    def stats(self) -> dict:
        return httpx.get(f"{self.base_url}/_sim/stats", timeout=5).json()

    def references(self) -> dict[str, dict]:
        results = httpx.get(f"{self.base_url}/_sim/topups", timeout=5).json()["results"]
        return {row["reference"]: row for row in results}

    def gateway(self, *, read_timeout: float = 5.0) -> HttpGateway:
        return HttpGateway(self.base_url, connect_timeout=2.0, read_timeout=read_timeout)
