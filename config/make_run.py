"""What `make run` checks and says before honcho starts the Procfile, and
what it cleans up after.

`python -m config.make_run check` exits 1, naming each busy port, the process
that needs it and the variable that moves it, before anything starts: honcho
stops every process when one cannot bind. `python -m config.make_run banner`
lists the five processes and where each listens or delivers. Both read the
environment the Makefile passes to honcho (PORT, HOST, SIMULATOR_PORT,
OPERATOR_GATEWAY_URL). `python -m config.make_run procfile` runs honcho, then,
however it ended, stops the embedded PostgreSQL if none of its users is left:
a process honcho had to SIGKILL never ran the exit handler that would have.
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from config.embedded_postgres import stop_if_unused

BASE_DIR = Path(__file__).resolve().parent.parent


def listening() -> list[tuple[str, str, str, int]]:
    """(process, variable, host, port) of each Procfile process that listens."""
    return [
        ("web", "PORT", os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))),
        ("simulator", "SIMULATOR_PORT", "127.0.0.1", int(os.environ.get("SIMULATOR_PORT", "8010"))),
    ]


def in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # As the servers bind: a port whose old connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def busy_ports() -> list[str]:
    return [
        f"Port {port} on {host} ({process}) is in use; choose another: make run {variable}=<port>"
        for process, variable, host, port in listening()
        if in_use(host, port)
    ]


def banner() -> str:
    (_, _, host, port), (_, _, _, simulator_port) = listening()
    gateway = os.environ.get("OPERATOR_GATEWAY_URL", f"http://127.0.0.1:{simulator_port}")
    python = ".venv/bin/python"
    return f"""
The five processes of Procfile (Ctrl-C stops all):
  web        http://{host}:{port}/  the API (docs: /api/docs/), the admin (/admin/), the portal (/portal/)  [PORT]
  worker     delivers recharges to the operator gateway at {gateway}  [OPERATOR_GATEWAY_URL]
  callbacks  sends sellers' callback events
  settlement settles each closed day against the operators' statements
  simulator  the operator simulator on http://127.0.0.1:{simulator_port}  [SIMULATOR_PORT]
Create the first admin in another shell:
    {python} manage.py createsuperuser
and an API token for it:
    {python} manage.py drf_create_token <username>
"""


def run_procfile() -> int:
    """honcho's exit status, once it and the embedded server have stopped."""
    # Ctrl-C reaches honcho too (the terminal's whole group): it stops the
    # processes; this one waits for it, then cleans up. A handler, not SIG_IGN,
    # which honcho would inherit.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    status = subprocess.call([str(Path(sys.executable).parent / "honcho"), "start", "-f", "Procfile"])
    if "DATABASE_URL" not in os.environ and (BASE_DIR / ".pgdata").exists():
        stop_if_unused(BASE_DIR / ".pgdata")
    return status


def main() -> None:
    if sys.argv[1:] == ["check"]:
        if busy := busy_ports():
            raise SystemExit("\n".join(busy))
    elif sys.argv[1:] == ["banner"]:
        print(banner())
    elif sys.argv[1:] == ["procfile"]:
        raise SystemExit(run_procfile())
    else:
        raise SystemExit("usage: python -m config.make_run check|banner|procfile")


if __name__ == "__main__":
    main()
