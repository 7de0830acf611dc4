"""`make run` on a shared machine (issue 18, item 12): a busy port is named
before anything starts, the worker follows SIMULATOR_PORT, and however the
Procfile's processes end, the embedded PostgreSQL they started ends with them.

Each test runs a copy of the project (tests/helpers/project_copy.py), so the
embedded server it starts is its own, not the one this test session uses."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest

from loadtests.server import free_port
from tests.helpers.project_copy import project_copy, stop_group, wait_until

# make would reinstall requirements into the shared environment if it found
# the copy's requirements.txt newer than its stamp: told the stamp is up to date.
MAKE = ["make", "--no-print-directory", "-o", ".venv/bin/.installed"]


@pytest.fixture
def project(tmp_path):
    project = project_copy(tmp_path / "project")
    yield project
    for orphan in postmasters(project):  # a failed test leaves none behind: fast shutdown
        orphan.send_signal(signal.SIGINT)


@pytest.fixture
def busy_port():
    """A port something else is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        yield listener.getsockname()[1]


def run_env(**variables) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({key: str(value) for key, value in variables.items()})
    return env


def postmasters(project: Path) -> list[psutil.Process]:
    """The PostgreSQL servers running on the copy's .pgdata."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0].endswith("/postgres") and str(project / ".pgdata") in cmdline:
            found.append(process)
    return found


def start(command: list[str], project: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def server_starts(project: Path) -> int:
    """How many times the copy's embedded server has started (its log)."""
    log = project / ".pgdata" / "log"
    return log.read_text().count("ready to accept connections") if log.exists() else 0


def registered(project: Path) -> list[int] | str:
    """pgserver's list of the processes using the copy's server; its text if a SIGKILL tore it."""
    handles = project / ".pgdata" / ".handle_pids.json"
    text = handles.read_text() if handles.exists() else "[]"
    try:
        return json.loads(text)
    except ValueError:
        return text


def ready(process: subprocess.Popen) -> None:
    line = process.stdout.readline()
    assert line == "ready\n", line + process.stdout.read()[-3000:]


@pytest.mark.parametrize("kill_first", [None, signal.SIGKILL])
def test_a_process_stopped_by_a_signal_leaves_no_postgresql_running(project, kill_first):
    """Two Django processes on the embedded server, started as the Procfile's
    are (SIGTERM's default action, no handler yet): one is stopped with
    SIGTERM, after the other was SIGKILLed or exited normally. Neither used to
    unregister, and the server ran on."""
    env = run_env()
    wait = ["manage.py", "shell", "--no-imports", "-c", "import time; print('ready', flush=True); time.sleep(120)"]
    started: list[subprocess.Popen] = []
    try:
        for _ in range(2):
            started.append(start([sys.executable, *wait], project, env))
            ready(started[-1])
        first, second = started
        assert set(registered(project)) == {first.pid, second.pid} and postmasters(project)
        if kill_first:
            first.send_signal(kill_first)
        else:
            first.terminate()
        first.wait(timeout=30)
        assert postmasters(project), "the server stopped while a process was still using it"
        second.terminate()
        second.wait(timeout=30)
    finally:
        for process in started:
            stop_group(process)
    assert wait_until(lambda: not postmasters(project), timeout=5), f"PostgreSQL kept running for {registered(project)}"


def test_an_aborted_start_leaves_no_postgresql_running(project, busy_port):
    """The Procfile's processes as `make run` starts them (after its port
    check, the port was taken): the simulator cannot bind, honcho stops the
    others while they start, and SIGKILLs those that take over 5 s to stop.
    Whether a run starts the server before the abort is a race: up to three
    runs, until one does."""
    env = run_env(PORT=free_port(), SIMULATOR_PORT=busy_port, PROMETHEUS_MULTIPROC_DIR=project / ".metrics")
    (project / ".metrics").mkdir()
    # As make run does first: the server is then initialised and starts in a moment.
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=project, env=env, check=True, timeout=300)
    for _attempt in range(3):
        starts = server_starts(project)
        honcho = start([sys.executable, "-m", "config.make_run", "procfile"], project, env)
        try:
            honcho.wait(timeout=60)
        finally:
            stop_group(honcho)
        output = honcho.stdout.read()
        assert "address already in use" in output, output[-2000:]
        survivors = [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(project)]
        assert not survivors, [p.cmdline() for p in survivors]
        assert wait_until(lambda: not postmasters(project), timeout=5), (
            f"PostgreSQL kept running for {registered(project)}:\n"
            + output[-3000:]
            + (project / ".pgdata" / "log").read_text()[-1500:]
        )
        if server_starts(project) > starts:
            return
    pytest.fail("no run started PostgreSQL before the abort: nothing was tested")


@pytest.mark.parametrize("busy", ["PORT", "SIMULATOR_PORT"])
def test_make_run_names_a_busy_port_and_starts_nothing(project, busy_port, busy):
    ports = dict(zip(["PORT", "SIMULATOR_PORT"], two_free_ports(), strict=True)) | {busy: busy_port}
    make = start([*MAKE, "run"], project, run_env(**ports))
    try:
        make.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("make run started with a busy port")
    finally:
        stop_group(make)
    output = make.stdout.read()
    assert make.returncode != 0
    assert f"Port {busy_port}" in output and f"{busy}=" in output, output
    assert not (project / ".pgdata").exists()


def two_free_ports() -> tuple[int, int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        return held.getsockname()[1], free_port()


def running_job_workers(project: Path) -> int:
    """procrastinate workers registered in the copy's database (each does so once it runs)."""
    lines = (project / ".pgdata" / "postmaster.pid").read_text().splitlines()
    try:
        with psycopg.connect(f"postgres://postgres@/postgres?host={lines[4]}&port={lines[3]}") as connection:
            (count,) = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchall()[0]
    except psycopg.OperationalError:  # the server still starting
        return 0
    return count


def test_make_run_starts_every_process_with_the_worker_on_the_moved_simulator(project):
    """And Ctrl-C (SIGINT to the foreground group: make and honcho) stops all, PostgreSQL too."""
    web, simulator = two_free_ports()
    make = start([*MAKE, "run"], project, run_env(PORT=web, SIMULATOR_PORT=simulator))
    lines: list[str] = []
    try:
        for line in make.stdout:
            lines.append(line)
            if "Delivering recharges to" in line or "stopped (rc=" in line:
                break
        # The three job workers running: a stop asked while one still connects is
        # lost (procrastinate's Worker.run() clears it), and honcho SIGKILLs it.
        assert wait_until(lambda: running_job_workers(project) == 3, timeout=60), "".join(lines)
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=60)
    finally:
        stop_group(make)
    output = "".join(lines) + make.stdout.read()
    assert f"Delivering recharges to http://127.0.0.1:{simulator}," in output, output[-3000:]
    banner = output.split("make_run procfile")[0]
    for process in ("web", "worker", "callbacks", "settlement", "simulator"):
        assert f"  {process} " in banner, (process, banner)
    assert f"http://127.0.0.1:{web}/" in banner and f"http://127.0.0.1:{simulator}" in banner, banner
    assert wait_until(lambda: not postmasters(project), timeout=5), "PostgreSQL kept running:\n" + output[-3000:]


def test_an_explicit_gateway_url_is_kept(project):
    dry_run = subprocess.run(
        [*MAKE, "-n", "run"],
        cwd=project,
        env=run_env(SIMULATOR_PORT=9999, OPERATOR_GATEWAY_URL="https://gateway.example"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    honcho = next(line for line in dry_run.stdout.splitlines() if "make_run procfile" in line)
    assert "OPERATOR_GATEWAY_URL=https://gateway.example" in honcho
