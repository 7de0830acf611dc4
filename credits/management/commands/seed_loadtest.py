"""`manage.py seed_loadtest --sellers N --credit X --out FILE`: the base data a
load test needs.

Creates N sellers, funds each with X rials and writes the tokens to FILE:

    {"staff_username": ..., "staff_token": ..., "credit": X,
     "sellers": [{"seller_id": 1, "token": "..."}, ...]}   (by seller_id)

Money moves only through the services, exactly as in production:
`sellers.services.create_seller`, then `credits.services.request_credit` and
`approve_credit_request` (decided by a staff user it creates or reuses), so the
ledger's triggers and constraints check every row. Speed comes from around
the services only: a few forked worker processes (`--jobs`), each with its own
connection, and `synchronous_commit = off` on those connections (a crash may
lose the last few seeded rows, never make them inconsistent), so 1,000
sellers take seconds.
"""

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from config.constants import MAX_AMOUNT
from credits.services import approve_credit_request, request_credit
from sellers.services import create_seller, issue_api_token


class Command(BaseCommand):
    help = "Creates N funded sellers (through the services) and writes their tokens to a JSON file for load tests."

    def add_arguments(self, parser):
        parser.add_argument("--sellers", type=int, required=True, help="How many sellers to create.")
        parser.add_argument("--credit", type=int, required=True, help="Rials credited to each seller (0: none).")
        parser.add_argument("--out", required=True, help="Where to write the JSON seed file.")
        parser.add_argument(
            "--prefix", default=None, help="Username prefix (default: lt-<timestamp>-<pid>, so re-runs never collide)."
        )
        parser.add_argument("--staff-username", default="loadtest-staff", help="Staff user who approves the credit.")
        parser.add_argument(
            "--jobs", type=int, default=min(4, os.cpu_count() or 1), help="Worker processes (connections) to seed with."
        )

    def handle(self, *args, sellers, credit, out, prefix, staff_username, jobs, **options):
        if sellers < 1:
            raise CommandError("--sellers must be at least 1.")
        if not 0 <= credit <= MAX_AMOUNT:
            raise CommandError(f"--credit must be between 0 and {MAX_AMOUNT}.")
        prefix = prefix or f"{time.strftime('lt-%Y%m%d%H%M%S')}-{os.getpid()}"
        started = time.monotonic()
        staff, staff_token = _staff_user(staff_username)
        usernames = [f"{prefix}-{number:06d}" for number in range(1, sellers + 1)]
        jobs = max(1, min(jobs, sellers))
        connections.close_all()  # forked workers must not share the parent's connection
        with ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("fork"), initializer=_fast_commits
        ) as pool:
            fund = partial(_funded_seller, credit=credit, staff=staff)
            seeded = list(pool.map(fund, usernames, chunksize=max(1, sellers // (jobs * 4))))
        seeded.sort(key=lambda seller: seller["seller_id"])
        _write_json(
            Path(out),
            {"staff_username": staff.username, "staff_token": staff_token, "credit": credit, "sellers": seeded},
        )
        self.stdout.write(
            f"Seeded {sellers} seller(s) with {credit} IRR each in {time.monotonic() - started:.1f} s: {out}"
        )


def _fast_commits() -> None:
    """Per seeding process: commit without waiting for the WAL flush."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")


def _staff_user(username: str):
    """The staff user (created on first use) and a new API token key for it
    (keys are stored hashed: an earlier one cannot be read back)."""
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": True}
    )
    if not user.is_staff or hasattr(user, "seller"):
        raise CommandError(f"User {username!r} exists and is not a plain staff user.")
    return user, issue_api_token(user=user)


def _funded_seller(username: str, *, credit: int, staff) -> dict:
    seller, token = create_seller(name=f"Load test shop {username}", username=username)
    if credit:
        credit_request = request_credit(seller_id=seller.pk, amount=credit)
        approve_credit_request(credit_request_id=credit_request.pk, decided_by=staff)
    return {"seller_id": seller.pk, "token": token}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(temporary, path)  # readers never see a half-written file
