"""Lost updates, shown: a naive read-modify-write debit next to the safe
conditional UPDATE, in threads and in processes.

    .venv/bin/python -m loadtests.race_demo

Each run creates its own one-row table (race_demo_account_<pid>_<n>) in the
project's database (DATABASE_URL, or the embedded server), lets several
workers debit it at once, and drops it. The balance covers only half of the
attempts, as a seller's does when terminals outsell it.

naive: SELECT balance; check and price the sale in Python; UPDATE SET
       balance = <the value computed from what was read>. Two workers that
       read the same balance both sell, and the second write erases the first
       debit: a recharge given away.
safe:  UPDATE ... SET balance = balance - amount WHERE id = 1 AND balance >= amount,
       then check the row count. PostgreSQL takes the row lock, re-reads the
       row once the lock is free, and re-checks the condition: no window.
       (The service does exactly this in ledger_post_debit, ledger/sql/.)

No sleeps: the race window is what it is in real code, the time between
reading a value and writing one computed from it.
"""

import hashlib
import itertools
import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

TIMEOUT = 60
_tables = itertools.count(1)


@dataclass(frozen=True)
class Outcome:
    runner: str
    strategy: str
    attempts: int
    amount: int
    start: int
    sold: int  # debits the code reported as done
    final: int  # the balance the database holds afterwards

    @property
    def expected(self) -> int:
        return self.start - self.sold * self.amount

    @property
    def discrepancy(self) -> int:
        """final - expected: > 0 is money sold but never debited (lost by the
        platform), < 0 money debited for nothing (taken from the seller)."""
        return self.final - self.expected

    @property
    def books_exact(self) -> bool:
        return self.discrepancy == 0 and self.final >= 0


def conninfo_from(settings_dict: dict) -> str:
    """A libpq connection string for a Django DATABASES entry."""
    return make_conninfo(
        **{
            key: str(value)
            for key, value in {
                "dbname": settings_dict["NAME"],
                "user": settings_dict["USER"],
                "password": settings_dict["PASSWORD"],
                "host": settings_dict["HOST"],
                "port": settings_dict["PORT"],
                "options": settings_dict.get("OPTIONS", {}).get("options"),
            }.items()
            if value
        }
    )


def _price(balance: int, amount: int) -> str:
    """Some Python work between the read and the write, as a real sale has
    (validate, price, format a receipt)."""
    return hashlib.sha256(f"{balance}:{amount}".encode() * 64).hexdigest()


def naive_debit(connection, table, amount: int) -> bool:
    (balance,) = connection.execute(sql.SQL("SELECT balance FROM {} WHERE id = 1").format(table)).fetchone()
    if balance < amount:
        return False
    _price(balance, amount)
    connection.execute(sql.SQL("UPDATE {} SET balance = %s WHERE id = 1").format(table), [balance - amount])
    return True


def safe_debit(connection, table, amount: int) -> bool:
    cursor = connection.execute(
        sql.SQL("UPDATE {} SET balance = balance - %s WHERE id = 1 AND balance >= %s").format(table), [amount, amount]
    )
    return cursor.rowcount == 1


DEBITS = {"naive": naive_debit, "safe": safe_debit}


def _worker(conninfo: str, table_name: str, strategy: str, attempts: int, amount: int, barrier) -> int:
    """Autocommit, like the service: each statement is its own transaction."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        table = sql.Identifier(table_name)
        barrier.wait(timeout=TIMEOUT)
        return sum(DEBITS[strategy](connection, table, amount) for _ in range(attempts))


def _process_worker(queue, *args) -> None:
    try:
        queue.put(_worker(*args))
    except Exception as error:  # noqa: BLE001 - re-raised in the parent
        queue.put(error)


def _in_threads(args: tuple, workers: int) -> list[int]:
    barrier = threading.Barrier(workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [f.result(timeout=TIMEOUT) for f in [pool.submit(_worker, *args, barrier) for _ in range(workers)]]  # type: ignore[call-arg]  # _worker takes the barrier last


def _in_processes(args: tuple, workers: int) -> list[int]:
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_process_worker, args=(queue, *args, barrier), daemon=True) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        results = [queue.get(timeout=TIMEOUT) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def run(
    conninfo: str, *, strategy: str, runner: str, workers: int = 4, attempts: int = 150, amount: int = 1_000
) -> Outcome:
    """Debits one scratch account from `workers` threads or processes at once,
    `attempts` times each; the balance covers half of all the attempts."""
    start = amount * workers * attempts // 2
    table_name = f"race_demo_account_{os.getpid()}_{next(_tables)}"
    table = sql.Identifier(table_name)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, balance bigint NOT NULL)").format(table))
        try:
            connection.execute(sql.SQL("INSERT INTO {} VALUES (1, %s)").format(table), [start])
            run_workers = {"threads": _in_threads, "processes": _in_processes}[runner]
            sold = sum(run_workers((conninfo, table_name, strategy, attempts, amount), workers))
            (final,) = connection.execute(sql.SQL("SELECT balance FROM {} WHERE id = 1").format(table)).fetchone() or (
                None,
            )
        finally:
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    return Outcome(runner, strategy, workers * attempts, amount, start, sold, final)


def table(outcomes: list[Outcome]) -> str:
    header = f"{'runner':<10} {'debit':<6} {'attempts':>8} {'sold':>6} {'covers':>6} {'expected':>10} {'balance':>10} {'unpaid (IRR)':>13}  books"
    rows = [
        f"{o.runner:<10} {o.strategy:<6} {o.attempts:>8} {o.sold:>6} {o.start // o.amount:>6} {o.expected:>10} {o.final:>10}"
        f" {o.discrepancy:>13}  {'exact' if o.books_exact else 'WRONG'}"
        for o in outcomes
    ]
    return "\n".join([header, *rows])


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    conninfo = conninfo_from(settings.DATABASES["default"])
    outcomes = [run(conninfo, strategy=s, runner=r) for r in ("threads", "processes") for s in ("naive", "safe")]
    print(table(outcomes))
    print(
        "\nsold = debits the code believed it made; covers = how many the starting balance pays for;"
        "\nunpaid = balance - expected: rials of recharges sold but never taken from the balance."
    )


if __name__ == "__main__":
    main()
