"""(5) Operations that take the same locks in opposite orders all finish:
no deadlock, no lock timeout."""

import pytest

from credits.services import request_credit
from ledger.models import LedgerEntry
from recharges.models import Recharge
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.workers import outcomes, run_in_processes, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 20


def approvals_in_opposite_orders(run, workers_per_order: int, make_seller, staff_user) -> None:
    first, second = make_seller(), make_seller()
    pairs = [
        (request_credit(seller_id=first.pk, amount=1_000).pk, request_credit(seller_id=second.pk, amount=2_000).pk)
        for _ in range(ROUNDS)
    ]
    forward = [pk for pair in pairs for pk in pair]
    backward = [pk for pair in pairs for pk in reversed(pair)]
    calls = [("approve", {"credit_request_ids": order, "staff_id": staff_user.pk}) for order in (forward, backward)]

    answers = outcomes(run(calls * workers_per_order))

    assert [answer["status"] for answer in answers] == [200] * (2 * ROUNDS * 2 * workers_per_order)
    assert (balance_of(first.pk), balance_of(second.pk)) == (ROUNDS * 1_000, ROUNDS * 2_000)
    assert LedgerEntry.objects.filter(kind="credit").count() == 2 * ROUNDS
    assert_books_balance(first.pk, second.pk)


def test_threads_approving_two_sellers_requests_in_opposite_orders_finish(make_seller, staff_user):
    approvals_in_opposite_orders(run_in_threads, 4, make_seller, staff_user)


def test_processes_approving_two_sellers_requests_in_opposite_orders_finish(make_seller, staff_user):
    approvals_in_opposite_orders(run_in_processes, 2, make_seller, staff_user)


def sales_sharing_numbers_in_opposite_orders(run, make_seller) -> None:
    """A batch of seller A and single recharges and a batch of seller B name
    the same new numbers in opposite orders: each round uses numbers never
    seen before, so every worker goes through the phone-number insert."""
    first, second = make_seller(balance=10_000_000), make_seller(balance=10_000_000)
    rounds = [[f"+98901{r:03d}{i:04d}" for i in range(6)] for r in range(ROUNDS)]
    calls = [
        ("sell_batches", {"seller_id": first.pk, "batches": [[(p, 1_000) for p in numbers] for numbers in rounds]}),
        (
            "sell_batches",
            {"seller_id": second.pk, "batches": [[(p, 2_000) for p in reversed(numbers)] for numbers in rounds]},
        ),
        (
            "sell",
            {"seller_id": second.pk, "phones": [p for numbers in rounds for p in reversed(numbers)], "amount": 3_000},
        ),
        ("sell", {"seller_id": first.pk, "phones": [p for numbers in rounds for p in numbers], "amount": 4_000}),
    ]

    answers = outcomes(run(calls))

    assert [answer["status"] for answer in answers] == [201] * (2 * ROUNDS + 2 * 6 * ROUNDS)
    assert Recharge.objects.count() == 4 * 6 * ROUNDS
    assert balance_of(first.pk) == 10_000_000 - 6 * ROUNDS * (1_000 + 4_000)
    assert balance_of(second.pk) == 10_000_000 - 6 * ROUNDS * (2_000 + 3_000)
    assert_books_balance(first.pk, second.pk)


def test_threads_batches_and_single_recharges_sharing_numbers_finish(make_seller):
    sales_sharing_numbers_in_opposite_orders(run_in_threads, make_seller)


def test_processes_batches_and_single_recharges_sharing_numbers_finish(make_seller):
    sales_sharing_numbers_in_opposite_orders(run_in_processes, make_seller)


def test_threads_adjusting_one_seller_at_once_finish(make_seller, staff_user):
    """Staff corrections of one seller at the same time (two admins, or an
    admin and a script) must queue on the seller row, not deadlock."""
    seller = make_seller(balance=1_000_000)
    calls = [("adjust", {"seller_id": seller.pk, "amounts": [-1_000, 500] * 5, "staff_id": staff_user.pk})] * 8

    answers = outcomes(run_in_threads(calls))

    assert [answer["status"] for answer in answers] == [201] * 80
    assert balance_of(seller.pk) == 1_000_000 - 40 * 500
    assert_books_balance(seller.pk)
