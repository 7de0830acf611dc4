"""Locust load test: sellers selling recharges and topping up, staff approving.

    LOADTEST_SEED=loadtests/out/seed.json locust -f loadtests/locustfile.py --host http://127.0.0.1:8000

Environment:
    LOADTEST_SEED  (required) the JSON written by `manage.py seed_loadtest`:
                   the staff token and every seller's {seller_id, token}.
    LOADTEST_OUT   (optional) a directory; each locust process appends every
                   201 recharge it saw to recharges-<host>-<pid>.csv there
                   (`recharge_id,seller_id,amount`) and, when it stops,
                   writes its count of responses per (request name, status)
                   and of failures per (name, error) to
                   outcomes-<host>-<pid>.json, for loadtests/run_loadtest.py
                   to report and cross-check with the ledger.

Outcomes: 2xx and the refusals the contract promises under this traffic (402
insufficient_balance) count as success; 5xx, connection errors and any other
status count as failures, and so does a 201 whose body does not match the request.
"""

import json
import os
import random
import socket
import uuid
from collections import Counter
from pathlib import Path
from typing import TextIO

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

MAX_AMOUNT = 10**15
# Round amounts in rials, as shops sell them (10,000 to 500,000).
RECHARGE_AMOUNTS = [10_000, 20_000, 30_000, 50_000, 100_000, 150_000, 200_000, 300_000, 500_000]
TOP_UP_AMOUNTS = [5_000_000, 10_000_000, 20_000_000, 50_000_000]
# Iranian mobile prefixes (MCI 091x/0990-0994, Irancell 093x/090x, RighTel 0921/0922).
MOBILE_PREFIXES = ["912", "919", "910", "913", "990", "991", "935", "936", "939", "901", "903", "921"]


def _load_seed() -> dict:
    path = os.environ.get("LOADTEST_SEED")
    if not path:
        raise RuntimeError("Set LOADTEST_SEED to the file written by `manage.py seed_loadtest`.")
    seed = json.loads(Path(path).read_text())
    if not seed.get("sellers"):
        raise RuntimeError(f"{path} lists no sellers.")
    return seed


SEED = _load_seed()


class _Outcomes:
    """Per-process record of what the clients saw (LOADTEST_OUT): every 201
    recharge, responses per (name, status), failures per (name, error)."""

    def __init__(self, directory: str | None):
        self.directory = Path(directory) if directory else None
        self.statuses: Counter = Counter()
        self.failures: Counter = Counter()
        self._recharges: TextIO | None = None

    @property
    def tag(self) -> str:
        # Read when writing: `locust --processes` forks after this module is imported.
        return f"{socket.gethostname()}-{os.getpid()}"

    def recharge(self, recharge_id: int, seller_id: int, amount: int) -> None:
        if self.directory is None:
            return
        if self._recharges is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Line-buffered: a line is on disk as soon as it is written.
            self._recharges = open(self.directory / f"recharges-{self.tag}.csv", "a", buffering=1)  # noqa: SIM115 - open for the whole run, closed in save()
        self._recharges.write(f"{recharge_id},{seller_id},{amount}\n")

    def save(self) -> None:
        if self._recharges is not None:
            self._recharges.flush()
        if self.directory is None or not self.statuses:  # a master process sends no requests
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        outcomes = {
            "statuses": [{"name": n, "status": s, "count": c} for (n, s), c in sorted(self.statuses.items())],
            "failures": [{"name": n, "error": e, "count": c} for (n, e), c in sorted(self.failures.items())],
        }
        (self.directory / f"outcomes-{self.tag}.json").write_text(json.dumps(outcomes, indent=1) + "\n")


OUTCOMES = _Outcomes(os.environ.get("LOADTEST_OUT"))


@events.request.add_listener
def _count_outcome(name, response, exception, **kwargs):
    status = getattr(response, "status_code", None) or 0  # 0: no HTTP response (connection error)
    OUTCOMES.statuses[(name, status)] += 1
    if exception is not None:
        OUTCOMES.failures[(name, str(exception)[:160])] += 1


@events.test_stop.add_listener
def _save_on_stop(**kwargs):
    OUTCOMES.save()


@events.quitting.add_listener
def _save_on_quit(**kwargs):
    OUTCOMES.save()


def random_phone() -> tuple[str, str]:
    """A random valid Iranian mobile number in one of the contract's written
    forms, and its E.164 form."""
    prefix = random.choice(MOBILE_PREFIXES)
    rest = f"{random.randrange(10_000_000):07d}"
    national = prefix + rest
    written = random.choice(
        [
            f"0{national}",
            f"+98{national}",
            f"98{national}",
            f"0098{national}",
            f"0{national[:3]} {national[3:6]} {national[6:]}",
            f"0{national[:3]}-{national[3:6]}-{national[6:]}",
            f"+98 {national[:3]} {national[3:6]} {national[6:]}",
        ]
    )
    return written, f"+98{national}"


def _expect(response, *statuses: int) -> dict | None:
    """Marks the response; returns its JSON body when the status is expected."""
    if response.status_code in statuses:
        try:
            body = response.json()
        except ValueError:
            response.failure(f"HTTP {response.status_code}: body is not JSON")
            return None
        response.success()
        return body
    kind = "server error" if response.status_code >= 500 else "unexpected status"
    response.failure(f"{kind} HTTP {response.status_code}: {(response.text or '')[:200]}")
    return None


class SellerUser(FastHttpUser):
    """A shop terminal: sells recharges, checks its balance and ledger, asks for top-ups."""

    weight = 10
    wait_time = between(0.1, 1.0)

    def on_start(self):
        seller = random.choice(SEED["sellers"])
        self.seller_id = seller["seller_id"]
        self.headers = {"Authorization": f"Token {seller['token']}"}
        self.balance = SEED.get("credit", 0)  # last balance seen; others may have spent since

    def _recharge(self, amount: int, *, name: str, key: str | None = None, phone=None) -> tuple[int, dict | None]:
        written, e164 = phone or random_phone()
        key = key or str(uuid.uuid4())
        with self.client.post(
            "/api/v1/recharges/",
            json={"phone_number": written, "amount": amount},
            headers={**self.headers, "Idempotency-Key": key},
            name=name,
            catch_response=True,
        ) as response:
            body = _expect(response, 201, 402)
            if body is None:
                return response.status_code, None
            if response.status_code == 201:
                if body.get("phone_number") != e164 or body.get("amount") != amount:
                    response.failure(f"201 body does not match the request: {body}")
                    return response.status_code, None
                OUTCOMES.recharge(body["id"], self.seller_id, amount)
                self.balance = body["balance_after"]
            else:
                self.balance = body["error"].get("details", {}).get("balance", self.balance)
                if random.random() < 0.3:
                    self.request_top_up()
            return response.status_code, body

    @task(20)
    def sell_recharge(self):
        self._recharge(random.choice(RECHARGE_AMOUNTS), name="POST /recharges/")

    @task(1)
    def sell_beyond_balance(self):
        """More than the last balance seen: a 402 unless a top-up landed meanwhile."""
        amount = min(MAX_AMOUNT, self.balance + random.choice(RECHARGE_AMOUNTS))
        self._recharge(amount, name="POST /recharges/ [beyond balance]")

    @task(1)
    def retry_recharge(self):
        """A terminal that lost the response retries with the same key: the
        same answer comes back, marked replayed, and nothing more is debited."""
        key, phone, amount = str(uuid.uuid4()), random_phone(), random.choice(RECHARGE_AMOUNTS)
        status, first = self._recharge(amount, name="POST /recharges/ [first of retry]", key=key, phone=phone)
        if first is None:
            return
        with self.client.post(
            "/api/v1/recharges/",
            json={"phone_number": phone[0], "amount": amount},
            headers={**self.headers, "Idempotency-Key": key},
            name="POST /recharges/ [retry]",
            catch_response=True,
        ) as response:
            again = _expect(response, status)
            if again is None:
                return
            if again != first or response.headers.get("Idempotent-Replayed") != "true":
                response.failure(f"retry was not a replay of {first}: {again}")

    @task(4)
    def check_balance(self):
        with self.client.get("/api/v1/me/", headers=self.headers, name="GET /me/", catch_response=True) as response:
            body = _expect(response, 200)
            if body is not None:
                self.balance = body["balance"]

    @task(3)
    def list_transactions(self):
        with self.client.get(
            "/api/v1/transactions/?page_size=20", headers=self.headers, name="GET /transactions/", catch_response=True
        ) as response:
            _expect(response, 200)

    @task(1)
    def request_top_up(self):
        with self.client.post(
            "/api/v1/credit-requests/",
            json={"amount": random.choice(TOP_UP_AMOUNTS)},
            headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())},
            name="POST /credit-requests/",
            catch_response=True,
        ) as response:
            _expect(response, 201)


class StaffUser(FastHttpUser):
    """An operator approving the pending top-ups."""

    weight = 1
    wait_time = between(0.5, 2.0)

    def on_start(self):
        self.headers = {"Authorization": f"Token {SEED['staff_token']}"}

    @task
    def approve_pending(self):
        with self.client.get(
            "/api/v1/credit-requests/?status=pending&page_size=20",
            headers=self.headers,
            name="GET /credit-requests/?status=pending",
            catch_response=True,
        ) as response:
            body = _expect(response, 200)
        if not body:
            return
        pending = body["results"]
        random.shuffle(pending)  # several operators: spread out, but overlaps are fine (approval is idempotent)
        for credit_request in pending[:5]:
            with self.client.post(
                f"/api/v1/credit-requests/{credit_request['id']}/approve/",
                headers=self.headers,
                name="POST /credit-requests/{id}/approve/",
                catch_response=True,
            ) as response:
                approved = _expect(response, 200)
                if approved is not None and approved.get("status") != "approved":
                    response.failure(f"approve answered {approved}")
