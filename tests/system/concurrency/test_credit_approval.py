"""(1) Many workers approving the same credit requests at once credit each one
exactly once: in threads of this process and in separate processes."""

import pytest

from credits.models import CreditRequest
from credits.services import request_credit
from ledger.models import LedgerEntry
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.workers import outcomes, run_in_processes, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 5
AMOUNT = 250_000


def approve_same_requests_everywhere(run, workers: int, make_seller, staff_user) -> list[dict]:
    seller = make_seller()
    request_ids = [request_credit(seller_id=seller.pk, amount=AMOUNT).pk for _ in range(REQUESTS)]
    call = ("approve", {"credit_request_ids": request_ids, "staff_id": staff_user.pk})

    results = run([call] * workers)

    answers = outcomes(results)
    assert [answer["status"] for answer in answers] == [200] * (workers * REQUESTS)
    assert CreditRequest.objects.filter(pk__in=request_ids, status="approved").count() == REQUESTS
    for request_id in request_ids:
        assert LedgerEntry.objects.filter(credit_request_id=request_id).count() == 1
    assert balance_of(seller.pk) == REQUESTS * AMOUNT
    assert_books_balance(seller.pk)
    return results


def test_threads_approving_the_same_requests_credit_each_once(make_seller, staff_user):
    approve_same_requests_everywhere(run_in_threads, 16, make_seller, staff_user)


def test_processes_approving_the_same_requests_credit_each_once(make_seller, staff_user):
    results = approve_same_requests_everywhere(run_in_processes, 8, make_seller, staff_user)
    assert len({result["pid"] for result in results}) == 8
