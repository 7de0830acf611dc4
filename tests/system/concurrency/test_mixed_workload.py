"""(3) Approvals, single recharges, batches and negative adjustments running
at once on the same two sellers keep every book exact."""

import pytest

from credits.services import request_credit
from ledger.models import LedgerEntry
from recharges.models import Recharge
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.workers import outcomes, run_in_processes, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

START = 500_000
TOP_UP = 100_000
TOP_UPS = 6
SINGLE = 25_000
BATCH_ITEM = 15_000
ADJUSTMENTS = [-30_000, 10_000, -50_000, -20_000, 5_000, -40_000]
SINGLES = 40  # per seller: with the batches and adjustments, more than START + the top-ups can cover


def phone(seller_index: int, worker: int, index: int) -> str:
    # Both sellers recharge the same numbers, so phone rows are shared too.
    return f"+98935{worker:03d}{index:04d}"


def seller_calls(seller, seller_index: int, single_workers: int, staff_id: int) -> list[tuple[str, dict]]:
    per_worker = SINGLES // single_workers
    calls = [
        (
            "sell",
            {
                "seller_id": seller.pk,
                "phones": [phone(seller_index, w, i) for i in range(per_worker)],
                "amount": SINGLE,
            },
        )
        for w in range(single_workers)
    ]
    batches = [[(phone(seller_index, 900, b * 3 + i), BATCH_ITEM) for i in range(3)] for b in range(4)]
    calls.append(("sell_batches", {"seller_id": seller.pk, "batches": batches}))
    calls.append(("adjust", {"seller_id": seller.pk, "amounts": ADJUSTMENTS, "staff_id": staff_id}))
    return calls


def mixed_workload(run, single_workers: int, make_seller, staff_user) -> None:
    sellers = [make_seller(balance=START), make_seller(balance=START)]
    requests = {
        seller.pk: [request_credit(seller_id=seller.pk, amount=TOP_UP).pk for _ in range(TOP_UPS)] for seller in sellers
    }
    all_requests = [pk for pks in requests.values() for pk in pks]
    calls = [
        ("approve", {"credit_request_ids": all_requests, "staff_id": staff_user.pk}),
        ("approve", {"credit_request_ids": all_requests[::-1], "staff_id": staff_user.pk}),
    ]
    for index, seller in enumerate(sellers):
        calls += seller_calls(seller, index, single_workers, staff_user.pk)

    results = run(calls)

    outcomes(results)  # no worker raised
    for (_, kwargs), result in zip(calls, results, strict=True):
        kwargs["outcomes"] = result["ok"]
    for seller in sellers:
        mine = [(name, kwargs) for name, kwargs in calls if kwargs.get("seller_id") == seller.pk]
        ok = lambda name, mine=mine: [o for n, kw in mine if n == name for o in kw["outcomes"] if o["status"] == 201]  # noqa: E731
        refused = [o for _, kw in mine for o in kw["outcomes"] if o["status"] == 402]
        singles, batches, adjustments = ok("sell"), ok("sell_batches"), ok("adjust")
        assert refused, "the workload asks for more than the balance can cover"
        spent = sum(o["amount"] for o in singles) + sum(o["amount"] for o in batches)
        adjusted = sum(o["amount"] for o in adjustments)
        assert balance_of(seller.pk) == START + TOP_UPS * TOP_UP + adjusted - spent
        assert LedgerEntry.objects.filter(credit_request_id__in=requests[seller.pk]).count() == TOP_UPS
        recharge_ids = [o["recharge_id"] for o in singles] + [i for o in batches for i in o["recharge_ids"]]
        assert sorted(Recharge.objects.filter(seller=seller).values_list("pk", flat=True)) == sorted(recharge_ids)
        assert LedgerEntry.objects.filter(seller=seller, kind="recharge").count() == len(recharge_ids)
        assert LedgerEntry.objects.filter(seller=seller, kind="adjustment").count() == len(adjustments)
        assert LedgerEntry.objects.filter(seller=seller).count() == 1 + TOP_UPS + len(adjustments) + len(recharge_ids)
    approvals = [o for name, kwargs in calls if name == "approve" for o in kwargs["outcomes"]]
    assert [o["status"] for o in approvals] == [200] * (2 * len(all_requests))
    assert_books_balance(*(seller.pk for seller in sellers))


def test_threads_mixed_workload_keeps_the_books(make_seller, staff_user):
    mixed_workload(run_in_threads, 2, make_seller, staff_user)  # 10 threads


def test_processes_mixed_workload_keeps_the_books(make_seller, staff_user):
    mixed_workload(run_in_processes, 1, make_seller, staff_user)  # 8 processes
