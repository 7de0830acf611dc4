"""The simulator as a real subprocess on a free port of this suite's range."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from recharges.gateway import HttpGateway

REPO = Path(__file__).resolve().parents[2]
PORTS = range(8250, 8300)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


class SimulatorProcess:
    def __init__(self, db: Path, *, latency_ms: float = 0, error_rate: float = 0.0, hang_seconds: float = 30):
        self.db = db
        self.options = ["--latency-ms", str(latency_ms), "--error-rate", str(error_rate)]
        self.options += ["--hang-seconds", str(hang_seconds)]
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "simulator", "--port", str(self.port), "--db", str(self.db), *self.options]
        self._process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the simulator exited with {self._process.returncode}")
            try:
                httpx.get(f"{self.base_url}/_sim/stats", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the simulator did not start listening within 15 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: no chance to close anything cleanly."""
        self._process.kill()
        self._process.wait(timeout=10)

    def stats(self) -> dict:
        return httpx.get(f"{self.base_url}/_sim/stats", timeout=5).json()

    def references(self) -> dict[str, dict]:
        results = httpx.get(f"{self.base_url}/_sim/topups", timeout=5).json()["results"]
        return {row["reference"]: row for row in results}

    def gateway(self, *, read_timeout: float = 5.0, max_connections: int = 100) -> HttpGateway:
        return HttpGateway(
            self.base_url, connect_timeout=2.0, read_timeout=read_timeout, max_connections=max_connections
        )
