"""The client side, run in spawned processes: terminals that send each
operation until it gets a final answer (retrying with the same
Idempotency-Key), steady traffic, the lock storm's threads, and raw sockets
that disconnect mid-request. Each client writes its operations to a JSON file."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from loadtests.chaos.config import PHASES_ALL, RECHARGE


def _headers(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Token {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def _classify(response) -> dict:
    """One attempt's outcome: status, error code, replayed, and for 5xx
    whether it is the contract's 503 (service_unavailable body + Retry-After)."""
    outcome = {"status": response.status_code}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        outcome["code"] = body["error"].get("code")
        details = body["error"].get("details")
        if isinstance(details, dict) and "outcome" in details:
            outcome["outcome"] = details["outcome"]
    if response.headers.get("Idempotent-Replayed") == "true":
        outcome["replayed"] = True
    if isinstance(body, dict) and 200 <= response.status_code < 300:
        outcome["id"] = body.get("id")
        if "status" in body:
            outcome["state"] = body["status"]
    if response.status_code >= 500:
        outcome["contract_503"] = (
            response.status_code == 503
            and outcome.get("code") == "service_unavailable"
            and bool(response.headers.get("Retry-After"))
            and outcome.get("outcome") in ("not_written", "unknown")
        )
        if not outcome["contract_503"]:
            outcome["body"] = response.text[:300]
            outcome["retry_after"] = response.headers.get("Retry-After")
    return outcome


def _retriable(outcome: dict) -> bool:
    status = outcome.get("status")
    return status is None or status >= 500 or outcome.get("code") == "idempotency_in_progress"


class Terminal:
    """Sends one operation until it gets a final answer, with the same key."""

    def __init__(self, base_url: str, phase, config: dict, rng: random.Random):
        self.base_url = base_url
        self.phase = phase
        self.timeout = config["request_timeout"]
        self.deadline = config["op_deadline"]
        self.rng = rng

    def send(self, method: str, path: str, token: str, body: dict | None = None, key: str | None = None) -> dict:
        op: dict[str, Any] = {"path": path, "key": key, "body": body, "attempts": []}
        started = time.monotonic()
        for attempt in range(60):
            sent = time.time()
            phase = PHASES_ALL[self.phase.value]
            try:
                response = requests.request(
                    method, self.base_url + path, json=body, headers=_headers(token, key), timeout=(3, self.timeout)
                )
                outcome = _classify(response)
                retry_after = _float(response.headers.get("Retry-After"))
            except requests.Timeout:
                outcome, retry_after = {"status": None, "error": "timeout"}, None
            except requests.ConnectionError as error:
                outcome, retry_after = {"status": None, "error": "connection", "detail": type(error).__name__}, None
            except requests.RequestException as error:  # e.g. the body cut short by a killed worker
                outcome, retry_after = (
                    {"status": None, "error": "broken response", "detail": type(error).__name__},
                    None,
                )
            outcome.update(sent=sent, done=time.time(), phase=phase)
            op["attempts"].append(outcome)
            if not _retriable(outcome) or time.monotonic() - started > self.deadline:
                break
            pause = min(retry_after if retry_after is not None else 0.05 * 2**attempt, 1.0)
            time.sleep(pause * self.rng.uniform(0.5, 1.0))
        op["final"] = op["attempts"][-1]
        return op


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# One sale in five goes to a sandbox number the simulator answers specially
# (docs/operators.md): declined, timing out, 503s, rejected; the rest succeed.
SANDBOX_SUFFIXES = ("9990", "9991", "9992", "9993", "9994")


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"0912{rng.randrange(1000):03d}{rng.choice(SANDBOX_SUFFIXES)}"
    return f"0912{rng.randrange(10**7):07d}"


def steady_client(name: str, base_url: str, sellers: list[dict], staff_token: str, config: dict, phase, stop, out: str):
    """A pool of terminals: recharges (most), credit requests + approvals,
    and staff adjustments, until `stop` is set."""
    rng = random.Random(f"{config['random_seed']}-{name}")
    terminal = Terminal(base_url, phase, config, rng)
    ops: list[dict[str, Any]] = []
    number = 0
    while not stop.is_set() and len(ops) < 100_000:
        number += 1
        seller = rng.choice(sellers)
        key = f"{name}-{number}-{uuid.uuid4().hex[:8]}"
        roll = rng.random()
        if roll < 0.86:
            body = {"phone_number": _phone(rng), "amount": rng.randrange(1000, 5001, 1000)}
            op = terminal.send("POST", RECHARGE, seller["token"], body, key)
            op.update(kind="recharge", seller_id=seller["seller_id"])
        elif roll < 0.93:
            body = {"amount": rng.randrange(10_000, 100_001, 10_000)}
            op = terminal.send("POST", "/api/v1/credit-requests/", seller["token"], body, key)
            op.update(kind="credit_request", seller_id=seller["seller_id"])
            credit_request_id = op["final"].get("id") if op["final"].get("status") == 201 else None
            if credit_request_id:
                ops.append(op)
                op = terminal.send("POST", f"/api/v1/credit-requests/{credit_request_id}/approve/", staff_token)
                op.update(
                    kind="approve",
                    seller_id=seller["seller_id"],
                    credit_request_id=credit_request_id,
                    amount=body["amount"],
                )
        else:
            amount = rng.choice([1, 1, -1]) * rng.randrange(100, 1001, 100)
            body = {"amount": amount, "reason": f"chaos {key}"}
            op = terminal.send("POST", f"/api/v1/sellers/{seller['seller_id']}/adjustments/", staff_token, body, key)
            op.update(kind="adjustment", seller_id=seller["seller_id"])
        ops.append(op)
    _write(out, ops)


def storm_client(name: str, base_url: str, hot: dict, staff_token: str, config: dict, phase, out: str, jobs: list):
    """Threads that fire `jobs` at one hot seller all at once."""
    rng = random.Random(f"{config['random_seed']}-{name}")
    ops, lock = [], threading.Lock()
    queue = list(jobs)
    gate = threading.Barrier(config["storm_threads"])

    def worker(index: int):
        terminal = Terminal(base_url, phase, config, random.Random(f"{name}-{index}"))
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait(30)
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
            if job["kind"] == "recharge":
                op = terminal.send("POST", RECHARGE, hot["token"], job["body"], job["key"])
            else:
                op = terminal.send(
                    "POST", f"/api/v1/sellers/{hot['seller_id']}/adjustments/", staff_token, job["body"], job["key"]
                )
            op.update(kind=job["kind"], seller_id=hot["seller_id"], storm=True, double_tap=job.get("double_tap", False))
            with lock:
                ops.append(op)

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(config["storm_threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(config["op_deadline"] * 4)
    del rng
    _write(out, ops)


def disconnect_client(name: str, base_url: str, sellers: list[dict], config: dict, phase, out: str):
    """Raw sockets: headers and part or all of a recharge's body, then close
    without reading (half of the complete ones with RST). Then each key is
    retried over HTTP, as a terminal that lost the answer would."""
    rng = random.Random(f"{config['random_seed']}-{name}")
    host, port = base_url.removeprefix("http://").split(":")
    ops: list[dict[str, Any]] = []
    kinds = ("partial", "complete", "complete_rst", "headers_only")
    for number in range(config["disconnects"]):
        seller = sellers[number % len(sellers)]
        kind = kinds[number % len(kinds)]
        key = f"{name}-{number}-{uuid.uuid4().hex[:8]}"
        body = {"phone_number": _phone(rng), "amount": rng.randrange(1000, 5001, 1000)}
        raw = json.dumps(body).encode()
        head = (
            f"POST {RECHARGE} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Token {seller['token']}\r\n"
            f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
        ).encode()
        payload = {"partial": head + raw[: len(raw) // 2], "headers_only": head}.get(kind, head + raw)
        sent = time.time()
        error = None
        try:
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(payload)
                if kind == "complete_rst":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError as exc:
            error = type(exc).__name__
        ops.append(
            {
                "kind": "disconnect",
                "how": kind,
                "key": key,
                "body": body,
                "seller": seller,
                "sent": sent,
                "error": error,
            }
        )
        time.sleep(rng.uniform(0, 0.02))
    time.sleep(0.5)  # let the server finish what it received
    terminal = Terminal(base_url, phase, config, rng)
    results = []
    for op in ops:
        seller = op.pop("seller")
        retry = terminal.send("POST", RECHARGE, seller["token"], op["body"], op["key"])
        retry.update(kind="recharge", seller_id=seller["seller_id"], disconnect=op["how"], socket_error=op["error"])
        results.append(retry)
    _write(out, results)


def _write(path: str, ops: list) -> None:
    Path(path).write_text(json.dumps(ops))
