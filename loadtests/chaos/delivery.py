"""Delivery under faults: the operator simulator, `manage.py run_worker` and
`manage.py deliver_callbacks` run beside gunicorn for the whole chaos run, and
four phases break them (a mixin of `Run`, loadtests/chaos/run.py):

  worker_kill    SIGKILL of the delivery worker in the middle of deliveries,
                 then a new one (a job that ran twice must be harmless)
  operator_down  the simulator stopped for --operator-outage-seconds, then
                 started again on the same record
  operator_slow  the simulator answering slower than the worker's read
                 timeout, then at its normal latency again
  callbacks      the sellers' callback receiver answering 500, then 200

After the load, the run waits until every recharge is final and every callback
event delivered, then checks: no reference charged twice (the simulator's own
record), a refund exactly for each failed recharge, no refund of a top-up the
operator charged, each final status told to its seller by a signed event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from loadtests.chaos.config import PHASES_ALL, ChaosConfig
from loadtests.chaos.report import Report
from loadtests.server import BASE_DIR, _python, django_env


class Receiver(ThreadingHTTPServer):
    """Sellers' callback URLs (/hooks/<seller id>): checks each signature with
    that seller's secret and records the event ids; answers 500 while failing."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.secrets: dict[str, str] = {}
        self.failing = False
        self.received: dict[str, int] = {}  # event id -> deliveries acknowledged
        self.bad_signatures = 0
        self.refused = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        secret = server.secrets.get(self.path.rsplit("/", 1)[-1], "")
        parts = dict(
            part.split("=", 1) for part in self.headers.get("Recharge-Signature", "").split(",") if "=" in part
        )
        expected = hmac.new(secret.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256).hexdigest()
        with server.lock:
            if not hmac.compare_digest(expected, parts.get("v1", "")):
                server.bad_signatures += 1
            if server.failing:
                server.refused += 1
            else:
                event_id = json.loads(body)["id"]
                server.received[event_id] = server.received.get(event_id, 0) + 1
        self.send_response(500 if server.failing else 204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class Delivery:
    # The Run's state that the phases use (set in Run.__init__ and Run._run).
    config: ChaosConfig
    report: Report
    phase: Any
    events: list[tuple[float, str]]
    log: Callable[..., object]
    log_marks: dict[str, int]
    _enter: Callable[[str], None]
    _add: Callable[[str, bool, str], None]
    receiver: Receiver | None

    def _start_delivery(self, url: str, work: Path, api_url: str, sellers: list[dict]) -> None:
        self.database_url, self.work = url, work
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.simulator_port = probe.getsockname()[1]
        self.simulator = self._simulator(self.config.operator_latency_ms)
        self.worker = self._worker()
        self.callbacks = self._django("deliver_callbacks", "callbacks.log")
        # Both are delivering before the load starts, so a phase breaks work in flight.
        self._wait_for_line(self.work / "worker.log", "Delivering recharges")
        self._wait_for_line(self.work / "callbacks.log", "Delivering callbacks")
        self.receiver = receiver = Receiver()
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        for seller in sellers:  # every seller hears of its final statuses
            answer = httpx.put(
                f"{api_url}/api/v1/me/callback/",
                json={"url": f"{receiver.url}/hooks/{seller['seller_id']}"},
                headers={"Authorization": f"Token {seller['token']}"},
                timeout=30,
            )
            answer.raise_for_status()
            receiver.secrets[str(seller["seller_id"])] = answer.json()["secret"]

    def _simulator(self, latency_ms: float) -> subprocess.Popen:
        command = [
            _python(), "-m", "simulator", "--port", str(self.simulator_port), "--latency-ms", str(latency_ms),
            "--hang-seconds", "3", "--db", str(self.work / "simulator.sqlite3"),
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.simulator_port}/_sim/stats", timeout=1)
                return process
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the operator simulator did not start")

    def _django(self, command: str, log_name: str, *args: str) -> subprocess.Popen:
        env = django_env(
            self.database_url,
            OPERATOR_GATEWAY_URL=f"http://127.0.0.1:{self.simulator_port}",
            OPERATOR_READ_TIMEOUT=str(self.config.operator_read_timeout),
            DELIVERY_MAX_BACKOFF_SECONDS="2",
            CALLBACK_TIMEOUT_SECONDS="2",
        )
        log = (self.work / log_name).open("a")
        return subprocess.Popen([_python(), "manage.py", command, *args], cwd=BASE_DIR, env=env, stdout=log, stderr=log)

    @staticmethod
    def _wait_for_line(log: Path, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in log.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{log.name} never said {text!r}")
            time.sleep(0.1)

    def _worker(self) -> subprocess.Popen:
        return self._django("run_worker", "worker.log")

    def _inject_worker_kill(self, *args) -> None:
        self._enter("worker_kill")
        kills = 0
        end = time.monotonic() + self.config.phase_seconds
        while time.monotonic() < end:
            time.sleep(self.config.kill_interval)
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
            kills += 1
            self.worker = self._worker()
        self.report.faults["delivery worker SIGKILLed"] = f"{kills} times, each replaced at once"

    def _inject_operator_down(self, *args) -> None:
        self._enter("operator_down")
        time.sleep(self.config.phase_seconds / 3)
        self.simulator.terminate()
        self.simulator.wait(30)
        time.sleep(self.config.operator_outage_seconds)
        self.simulator = self._simulator(self.config.operator_latency_ms)
        time.sleep(self.config.phase_seconds / 3)
        self.report.faults["operator down"] = f"simulator stopped for {self.config.operator_outage_seconds:g} s"

    def _inject_operator_slow(self, *args) -> None:
        self._enter("operator_slow")
        slow_ms = self.config.operator_read_timeout * 1500
        self.simulator.terminate()
        self.simulator.wait(30)
        self.simulator = self._simulator(slow_ms)
        time.sleep(self.config.phase_seconds)
        self.simulator.terminate()
        self.simulator.wait(30)
        self.simulator = self._simulator(self.config.operator_latency_ms)
        self.report.faults["operator slow"] = (
            f"{slow_ms:.0f} ms answers (read timeout {self.config.operator_read_timeout:g} s) "
            f"for {self.config.phase_seconds:g} s"
        )

    def _inject_callbacks(self, *args) -> None:
        self._enter("callbacks")
        receiver = self.receiver
        assert receiver is not None
        receiver.failing = True
        time.sleep(self.config.phase_seconds)
        receiver.failing = False
        self.report.faults["callback receiver failing"] = (
            f"500 to {receiver.refused} attempts over {self.config.phase_seconds:g} s, then 204"
        )

    def _settle_deliveries(self) -> dict:
        """Waits until every recharge is final and every event delivered; the
        figures the checks need (the simulator's record, what arrived)."""
        self.phase.value = PHASES_ALL.index("settle")
        started = time.monotonic()
        deadline = started + self.config.settle_seconds
        while time.monotonic() < deadline:
            pending = _count(self.database_url, "recharges_recharge WHERE status = 'pending'")
            undelivered = _count(self.database_url, "callbacks_callbackevent WHERE delivered_at IS NULL")
            if not pending and not undelivered:
                break
            time.sleep(0.5)
        settled = time.monotonic() - started
        simulator = f"http://127.0.0.1:{self.simulator_port}"
        stats = httpx.get(f"{simulator}/_sim/stats", timeout=30).json()
        topups = httpx.get(f"{simulator}/_sim/topups", timeout=60).json()["results"]
        receiver = self.receiver
        self._stop_delivery()
        return {"settled_seconds": settled, "simulator": stats, "topups": topups, "receiver": receiver}

    def _stop_delivery(self) -> None:
        """Stops what _start_delivery started (also when the run fails)."""
        for name in ("worker", "callbacks", "simulator"):
            process = getattr(self, name, None)
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(60)
        receiver = getattr(self, "receiver", None)
        if receiver is not None:
            receiver.shutdown()
            receiver.server_close()
            self.receiver = None

    def _check_deliveries(self, facts: dict, delivery: dict) -> None:
        # id, seller, amount, status, failure, operator reference, top-up reference
        states = {row[0]: row for row in facts["recharge_states"]}
        refunds = dict(facts["refunds"])
        stats = delivery["simulator"]
        pending = [rid for rid, row in states.items() if row[3] == "pending"]
        self._add(
            "every recharge final after the faults",
            not pending,
            f"{len(states)} recharges final {delivery['settled_seconds']:.1f} s after the load"
            + (f"; STILL PENDING: {pending[:10]}" if pending else ""),
        )
        self._add(
            "no reference charged twice at the operator",
            stats["charged_twice"] == 0 and stats["repeated_topup_requests"] == 0,
            f"{stats['topups']} top-ups recorded, {stats['charges']} charges, "
            f"{stats['topup_requests']} top-up requests, {stats['status_queries']} status queries",
        )
        failed = {rid: row[2] for rid, row in states.items() if row[3] == "failed"}
        self._add(
            "a refund exactly for each failed recharge, by its amount",
            refunds == failed,
            f"{len(failed)} failed, {len(refunds)} refunds",
        )
        commissions = dict(facts["commissions"])
        earned = dict(facts["commissions_earned"])
        self._add(
            "a commission exactly for each successful recharge, at its rate, and none for any other",
            commissions == earned and bool(earned) == (self.config.commission_rate > 0),
            f"{len(earned)} earned, {len(commissions)} paid, {sum(commissions.values())} IRR"
            + (
                f"; WRONG: {sorted(set(commissions.items()) ^ set(earned.items()))[:5]}"
                if commissions != earned
                else ""
            ),
        )
        by_reference = {row[6]: rid for rid, row in states.items()}
        charged = {
            by_reference[row["reference"]]
            for row in delivery["topups"]
            if row["status"] == "successful" and row["reference"] in by_reference
        }
        refunded_but_charged = sorted(charged & set(refunds))
        wrong = [rid for rid in charged if rid in states and states[rid][3] != "successful"]
        self._add(
            "no refund of a top-up the operator charged",
            not refunded_but_charged and not wrong,
            f"{len(charged)} charged at the operator, all successful here"
            if not wrong
            else f"charged but not successful: {wrong[:10]}",
        )
        receiver: Receiver = delivery["receiver"]
        events = facts["callback_events"]  # id, type, recharge id
        missing = [event_id for event_id, _, _ in events if event_id not in receiver.received]
        told = {recharge_id for _, _, recharge_id in events}
        finals = {rid for rid, row in states.items() if row[3] != "pending"}
        self._add(
            "each final status reached its seller, signed",
            not missing and told == finals and receiver.bad_signatures == 0,
            f"{len(events)} events for {len(finals)} final recharges, "
            f"{sum(receiver.received.values())} acknowledged deliveries, {receiver.refused} refused with 500, "
            f"{receiver.bad_signatures} bad signatures" + (f"; NOT DELIVERED: {missing[:5]}" if missing else ""),
        )
        self.report.money["recharges successful / failed"] = f"{len(finals) - len(failed)} / {len(failed)}"
        self.report.money["refunded"] = sum(refunds.values())
        self.report.money["commissions"] = sum(commissions.values())


def _count(database_url: str, where: str) -> int:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute(f"SELECT count(*) FROM {where}").fetchone()
    return row[0] if row else 0
