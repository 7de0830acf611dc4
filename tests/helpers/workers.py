"""Operations that concurrency tests run at the same time, in threads of the
test process or in spawned processes, and the two runners.

Each operation calls the services (the code under test) and returns plain,
picklable data: what happened, never a model instance. Django is imported
inside the functions because a spawned child imports this module before it
has called `django.setup()`.

Both runners make every worker connect first and then wait at a barrier, so
the operations start together; a barrier is a start gate, not a sleep.
"""

import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

BARRIER_TIMEOUT = 120
RESULT_TIMEOUT = 180


def current_database_url() -> str:
    """The URL of the database the test process uses (pytest-django's test_* one)."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    if s["HOST"].startswith("/"):  # Unix socket (the embedded PostgreSQL)
        return f"postgres://{auth}@/{s['NAME']}?host={s['HOST']}"
    return f"postgres://{auth}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"


# --- operations -------------------------------------------------------------


def _refusal(error) -> dict:
    return {"status": error.status_code, "code": error.code}


def approve(*, credit_request_ids: list[int], staff_id: int) -> list[dict]:
    """Approves each request in the given order, one transaction each."""
    from django.contrib.auth import get_user_model

    from config.errors import ApplicationError
    from credits.services import approve_credit_request

    staff = get_user_model().objects.get(pk=staff_id)
    outcomes = []
    for credit_request_id in credit_request_ids:
        try:
            credit_request = approve_credit_request(credit_request_id=credit_request_id, decided_by=staff)
            outcomes.append({"status": 200, "id": credit_request.pk, "amount": credit_request.amount})
        except ApplicationError as error:
            outcomes.append({"id": credit_request_id, **_refusal(error)})
    return outcomes


def sell(*, seller_id: int, phones: list[str], amount: int, keys: list[str] | None = None) -> list[dict]:
    """Sells one recharge per phone number, in order; `keys` are Idempotency-Keys."""
    import json

    from idempotency.services import request_hash
    from recharges.services import sell_recharge

    outcomes = []
    for index, phone in enumerate(phones):
        key = keys[index] if keys else None
        digest = request_hash({"phone_number": phone, "amount": amount}) if key else None
        result = sell_recharge(
            seller_id=seller_id, phone_number=phone, amount=amount, idempotency_key=key, request_hash=digest
        )
        body = json.loads(result.body)
        outcomes.append(
            {
                "status": result.status_code,
                "amount": amount,
                "recharge_id": body.get("id") if result.status_code == 201 else None,
                "replayed": result.replayed,
            }
        )
    return outcomes


def sell_batches(*, seller_id: int, batches: list[list[tuple[str, int]]]) -> list[dict]:
    """Sells each batch (a list of (phone, amount)), in order."""
    import json

    from recharges.services import sell_recharge_batch

    outcomes = []
    for items in batches:
        result = sell_recharge_batch(seller_id=seller_id, items=[(phone, amount) for phone, amount in items])
        body = json.loads(result.body)
        ok = result.status_code == 201
        outcomes.append(
            {
                "status": result.status_code,
                "amount": sum(amount for _, amount in items),
                "count": len(items),
                "recharge_ids": [r["id"] for r in body["recharges"]] if ok else [],
            }
        )
    return outcomes


def adjust(*, seller_id: int, amounts: list[int], staff_id: int) -> list[dict]:
    """Makes one staff adjustment per amount, in order."""
    from django.contrib.auth import get_user_model

    from config.errors import ApplicationError
    from ledger.services import adjust_balance

    staff = get_user_model().objects.get(pk=staff_id)
    outcomes = []
    for amount in amounts:
        try:
            entry = adjust_balance(seller_id=seller_id, amount=amount, reason="concurrency test", created_by=staff)
            outcomes.append({"status": 201, "amount": amount, "entry_id": entry.pk})
        except ApplicationError as error:
            outcomes.append({"amount": amount, **_refusal(error)})
    return outcomes


def approve_adjustments(*, seller_id: int, adjustment_ids: list[int], staff_id: int) -> list[dict]:
    """Gives each waiting adjustment its second approval (four eyes), in order."""
    from django.contrib.auth import get_user_model

    from config.errors import ApplicationError
    from ledger.services import approve_adjustment

    staff = get_user_model().objects.get(pk=staff_id)
    outcomes = []
    for adjustment_id in adjustment_ids:
        try:
            entry = approve_adjustment(seller_id=seller_id, adjustment_id=adjustment_id, approved_by=staff)
            outcomes.append({"status": 201, "id": adjustment_id, "entry_id": entry.pk})
        except ApplicationError as error:
            outcomes.append({"id": adjustment_id, **_refusal(error)})
    return outcomes


OPERATIONS: dict[str, Callable[..., list[dict]]] = {
    "approve": approve,
    "sell": sell,
    "sell_batches": sell_batches,
    "adjust": adjust,
    "approve_adjustments": approve_adjustments,
}


def _run(name: str, kwargs: dict, barrier) -> dict:
    """Runs one operation on this thread's own connection, after the start gate.

    Returns {"ok": result} or {"error": "<exception type>: <message>", ...}: an
    unexpected exception (a deadlock, an IntegrityError) is data for the test
    to assert on, not a crash of the runner.
    """
    from django.db import connection

    try:
        connection.ensure_connection()
        barrier.wait(timeout=BARRIER_TIMEOUT)
        return {"ok": OPERATIONS[name](**kwargs), "pid": os.getpid(), "thread": threading.get_ident()}
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(), "pid": os.getpid()}
    finally:
        connection.close()


# --- runners ----------------------------------------------------------------


def run_in_threads(calls: list[tuple[str, dict]]) -> list[dict]:
    """Runs each (operation, kwargs) in its own thread of this process, all at once."""
    barrier = threading.Barrier(len(calls))
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(_run, name, kwargs, barrier) for name, kwargs in calls]
        return [future.result(timeout=RESULT_TIMEOUT) for future in futures]


def _child(database_url: str, barrier, queue, index: int, name: str, kwargs: dict) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    queue.put((index, _run(name, kwargs, barrier)))


def run_in_processes(calls: list[tuple[str, dict]], *, database_url: str | None = None) -> list[dict]:
    """Runs each (operation, kwargs) in its own spawned process, all at once.

    Each child is a fresh interpreter: it sets DJANGO_SETTINGS_MODULE and
    DATABASE_URL (the test database's), calls django.setup(), connects, waits
    at the shared barrier, then calls the services.
    """
    database_url = database_url or current_database_url()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(calls))
    queue = context.Queue()
    processes = [
        context.Process(target=_child, args=(database_url, barrier, queue, index, name, kwargs), daemon=True)
        for index, (name, kwargs) in enumerate(calls)
    ]
    for process in processes:
        process.start()
    try:
        results = dict(queue.get(timeout=RESULT_TIMEOUT) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return [results[index] for index in range(len(calls))]


def outcomes(results: list[dict]) -> list[dict]:
    """All operations' outcomes; fails with the first worker's traceback if any raised."""
    errors = [result for result in results if "error" in result]
    assert not errors, f"{len(errors)} worker(s) raised; first:\n{errors[0]['traceback']}"
    return [outcome for result in results for outcome in result["ok"]]
