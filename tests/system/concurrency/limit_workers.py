"""Sales from several processes, each running several threads, all released
at once by one barrier: the seller limits' tests (test_seller_limits.py).

tests/helpers/workers.py runs one operation per process or per thread; these
limits are judged under the seller's row lock, so the test wants both kinds of
contention at once (threads of one process and separate processes, each with
its own connection). Django is imported inside the functions: a spawned child
imports this module before it has called `django.setup()`.
"""

import multiprocessing
import os
import traceback
from concurrent.futures import ThreadPoolExecutor

from tests.helpers.workers import BARRIER_TIMEOUT, RESULT_TIMEOUT, current_database_url

# One sale: (phone, amount) sells one recharge, a list of them sells one batch.
Sale = tuple[str, int] | list[tuple[str, int]]


def _sell(seller_id: int, sale: Sale) -> dict:
    """Sells through the services; returns what happened as plain data."""
    import json

    from recharges.services import sell_recharge, sell_recharge_batch

    if isinstance(sale, tuple):
        phone, amount = sale
        result = sell_recharge(seller_id=seller_id, phone_number=phone, amount=amount)
        items = [sale]
    else:
        result = sell_recharge_batch(seller_id=seller_id, items=sale)
        items = sale
    body = json.loads(result.body)
    ok = result.status_code == 201
    error = {} if ok else body["error"]
    return {
        "status": result.status_code,
        "batch": isinstance(sale, list),
        "count": len(items),
        "amount": sum(amount for _, amount in items),
        "recharge_ids": ([r["id"] for r in body["recharges"]] if isinstance(sale, list) else [body["id"]])
        if ok
        else [],
        "code": error.get("code"),
        "limit": error.get("details", {}).get("limit"),
    }


def _thread(seller_id: int, sales: list[Sale], barrier) -> list[dict]:
    from django.db import connection

    try:
        connection.ensure_connection()
        barrier.wait(timeout=BARRIER_TIMEOUT)
        return [_sell(seller_id, sale) for sale in sales]
    finally:
        connection.close()


def _process(database_url: str, barrier, queue, index: int, seller_id: int, threads: list[list[Sale]]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url
    try:
        import django

        django.setup()
        with ThreadPoolExecutor(max_workers=len(threads)) as pool:
            futures = [pool.submit(_thread, seller_id, sales, barrier) for sales in threads]
            answers = [answer for future in futures for answer in future.result(timeout=RESULT_TIMEOUT)]
        queue.put((index, {"ok": answers, "pid": os.getpid()}))
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        barrier.abort()  # the other workers stop waiting for this one's threads
        queue.put((index, {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}))


def sell_from_processes(seller_id: int, work: list[list[list[Sale]]]) -> list[dict]:
    """work[p][t] is what thread t of process p sells, in order; every
    thread of every process starts at once. Returns every sale's outcome;
    fails with the first worker's traceback if any raised."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(sum(len(threads) for threads in work))
    queue = context.Queue()
    database_url = current_database_url()
    processes = [
        context.Process(target=_process, args=(database_url, barrier, queue, index, seller_id, threads), daemon=True)
        for index, threads in enumerate(work)
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
    errors = [result for result in results.values() if "error" in result]
    assert not errors, f"{len(errors)} worker(s) raised; first:\n{errors[0]['traceback']}"
    assert len({result["pid"] for result in results.values()}) == len(work)
    return [answer for index in range(len(work)) for answer in results[index]["ok"]]


def spread(sales: list[Sale], processes: int, threads: int) -> list[list[list[Sale]]]:
    """Deals the sales round-robin to processes x threads, so that each
    thread's share mixes what the list mixes."""
    slots = processes * threads
    return [[sales[p * threads + t :: slots] for t in range(threads)] for p in range(processes)]
