"""(2) Concurrent recharges on a balance that covers only part of them, and
(4) one Idempotency-Key sent by many processes at once."""

import pytest
from django.db.models import Sum

from ledger.models import LedgerEntry
from recharges.models import Recharge
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.workers import outcomes, run_in_processes, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

BALANCE = 1_000_000
AMOUNT = 30_000  # the balance covers 33 recharges, leaving 10,000


def phone(worker: int, index: int) -> str:
    return f"+98912{worker:03d}{index:04d}"


def overdraw(run, workers: int, per_worker: int, make_seller) -> list[dict]:
    seller = make_seller(balance=BALANCE)
    calls = [
        ("sell", {"seller_id": seller.pk, "phones": [phone(w, i) for i in range(per_worker)], "amount": AMOUNT})
        for w in range(workers)
    ]

    results = run(calls)

    answers = outcomes(results)
    sold = [answer for answer in answers if answer["status"] == 201]
    refused = [answer for answer in answers if answer["status"] == 402]
    assert len(sold) + len(refused) == workers * per_worker
    assert len(sold) == BALANCE // AMOUNT == 33
    assert len(refused) == workers * per_worker - 33
    spent = -LedgerEntry.objects.filter(seller=seller, kind="recharge").aggregate(total=Sum("amount"))["total"]
    assert spent == len(sold) * AMOUNT
    assert balance_of(seller.pk) == BALANCE - len(sold) * AMOUNT == 10_000
    # Every 201 has its one recharge and one ledger entry; every 402 wrote nothing.
    assert Recharge.objects.filter(seller=seller).count() == len(sold)
    ledger_recharge_ids = list(
        LedgerEntry.objects.filter(seller=seller, kind="recharge").values_list("recharge_id", flat=True)
    )
    assert sorted(ledger_recharge_ids) == sorted(answer["recharge_id"] for answer in sold)
    assert_books_balance(seller.pk)
    return results


def test_threads_overdrawing_a_balance_sell_exactly_what_it_covers(make_seller):
    overdraw(run_in_threads, workers=16, per_worker=6, make_seller=make_seller)


def test_processes_overdrawing_a_balance_sell_exactly_what_it_covers(make_seller):
    results = overdraw(run_in_processes, workers=8, per_worker=12, make_seller=make_seller)
    assert len({result["pid"] for result in results}) == 8


def same_key_everywhere(run, workers: int, make_seller) -> list[dict]:
    seller = make_seller(balance=100_000)
    call = (
        "sell",
        {"seller_id": seller.pk, "phones": ["+989121234567"], "amount": 10_000, "keys": ["pos-7-receipt-42"]},
    )

    results = run([call] * workers)

    answers = outcomes(results)
    assert [answer["status"] for answer in answers] == [201] * workers
    assert len({answer["recharge_id"] for answer in answers}) == 1
    assert sorted(answer["replayed"] for answer in answers) == [False] + [True] * (workers - 1)
    assert Recharge.objects.filter(seller=seller).count() == 1
    assert balance_of(seller.pk) == 90_000
    assert_books_balance(seller.pk)
    return results


def test_one_idempotency_key_from_16_processes_debits_once(make_seller):
    results = same_key_everywhere(run_in_processes, 16, make_seller)
    assert len({result["pid"] for result in results}) == 16


def test_one_idempotency_key_from_16_threads_debits_once(make_seller):
    same_key_everywhere(run_in_threads, 16, make_seller)
