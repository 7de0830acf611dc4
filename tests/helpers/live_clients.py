"""HTTP clients for the live-server tests: point-of-sale terminals selling
recharges and staff approving top-ups and adjusting balances, each in its own
spawned process with several threads, all started together at a barrier.

Nothing here imports Django: the processes only speak HTTP (`requests`,
token auth), like the real terminals and admin tools.
"""

import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

TIMEOUT = (5, 30)  # connect, read: every request is bounded
MAX_ATTEMPTS = 8
BARRIER_TIMEOUT = 120
RESULT_TIMEOUT = 300


def _post(session, url, token, body, key=None, timeout=TIMEOUT):
    headers = {"Authorization": f"Token {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return session.post(url, json=body, headers=headers, timeout=timeout)


def _terminal(base_url: str, sales: list[dict], retries: bool, seed: int) -> dict:
    """Sells each sale in order. With `retries`, some first attempts use a
    client timeout too short for an answer and are sent again, with the same
    Idempotency-Key, until the server answers."""
    rng = random.Random(seed)
    result: dict[str, Any] = {
        "sent": 0,
        "timeouts": 0,
        "statuses": Counter(),
        "sold": [],
        "refused": [],
        "unexpected": [],
        "replayed": 0,
    }
    with requests.Session() as session:
        for sale in sales:
            body = {"phone_number": sale["phone"], "amount": sale["amount"]}
            short_attempts = rng.choice([0, 0, 1, 2]) if retries else 0
            for attempt in range(MAX_ATTEMPTS):
                timeout = (5, rng.choice([0.005, 0.02, 0.1])) if attempt < short_attempts else TIMEOUT
                result["sent"] += 1
                try:
                    response = _post(
                        session, f"{base_url}/api/v1/recharges/", sale["token"], body, sale.get("key"), timeout
                    )
                except requests.Timeout:
                    result["timeouts"] += 1
                    if not retries:
                        result["unexpected"].append({"sale": sale, "error": "timeout"})
                        break
                    continue
                except requests.RequestException as error:
                    result["unexpected"].append({"sale": sale, "error": repr(error)})
                    break
                result["statuses"][response.status_code] += 1
                answer = {"seller": sale["seller"], "key": sale.get("key"), "status": response.status_code}
                if response.status_code == 201:
                    answer["id"] = response.json()["id"]
                    result["sold"].append(answer)
                elif response.status_code == 402 and response.json()["error"]["code"] == "insufficient_balance":
                    result["refused"].append(answer)
                else:
                    result["unexpected"].append({**answer, "body": response.text[:500]})
                result["replayed"] += response.headers.get("Idempotent-Replayed") == "true"
                break
            else:
                result["unexpected"].append({"sale": sale, "error": f"no answer in {MAX_ATTEMPTS} attempts"})
    return result


def _staff_top_ups(base_url: str, staff_token: str, seller: dict, top_ups: list[int]) -> dict:
    """The seller asks for each top-up; staff approve it, then approve it again
    (idempotent: 200, credits nothing more)."""
    result: dict[str, Any] = {"sent": 0, "credited": [], "unexpected": []}
    with requests.Session() as session:
        for amount in top_ups:
            response = _post(session, f"{base_url}/api/v1/credit-requests/", seller["token"], {"amount": amount})
            result["sent"] += 1
            if response.status_code != 201:
                result["unexpected"].append(
                    {"step": "request", "status": response.status_code, "body": response.text[:500]}
                )
                continue
            request_id = response.json()["id"]
            for repeat in range(2):
                response = _post(session, f"{base_url}/api/v1/credit-requests/{request_id}/approve/", staff_token, None)
                result["sent"] += 1
                if response.status_code == 200 and response.json()["status"] == "approved":
                    if repeat == 0:
                        result["credited"].append({"seller": seller["name"], "id": request_id, "amount": amount})
                else:
                    result["unexpected"].append(
                        {"step": "approve", "status": response.status_code, "body": response.text[:500]}
                    )
    return result


def _staff_adjustments(base_url: str, staff_token: str, adjustments: list[dict]) -> dict:
    result: dict[str, Any] = {"sent": 0, "adjusted": [], "refused": [], "unexpected": []}
    with requests.Session() as session:
        for adjustment in adjustments:
            url = f"{base_url}/api/v1/sellers/{adjustment['seller_id']}/adjustments/"
            body = {"amount": adjustment["amount"], "reason": "live test correction"}
            response = _post(session, url, staff_token, body)
            result["sent"] += 1
            record = {"seller": adjustment["seller"], "amount": adjustment["amount"], "status": response.status_code}
            if response.status_code == 201 and response.json()["amount"] == adjustment["amount"]:
                result["adjusted"].append(record)
            elif response.status_code == 402:
                result["refused"].append(record)
            else:
                result["unexpected"].append({**record, "body": response.text[:500]})
    return result


def _process(barrier, queue, index: int, jobs: list[tuple[str, dict]]) -> None:
    """One client process: its jobs run in as many threads, after the barrier."""
    functions: dict[str, Callable[..., dict[str, Any]]] = {
        "terminal": _terminal,
        "top_ups": _staff_top_ups,
        "adjustments": _staff_adjustments,
    }
    try:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures: list[Future[dict[str, Any]]] = [pool.submit(functions[name], **kwargs) for name, kwargs in jobs]
            queue.put((index, [future.result() for future in futures]))
    except Exception as error:  # noqa: BLE001 - reported to the test
        queue.put((index, [{"unexpected": [{"error": repr(error)}], "sent": 0}]))


def run_processes(plans: list[list[tuple[str, dict]]]) -> tuple[list[dict], float]:
    """Runs each plan (a list of thread jobs) in its own spawned process, all
    released together; returns every thread's result and the seconds from the
    release to the last answer."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(plans) + 1)
    queue = context.Queue()
    processes = [
        context.Process(target=_process, args=(barrier, queue, i, plan), daemon=True) for i, plan in enumerate(plans)
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        started = time.monotonic()
        results = [result for _ in processes for result in queue.get(timeout=RESULT_TIMEOUT)[1]]
        elapsed = time.monotonic() - started
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return results, elapsed
