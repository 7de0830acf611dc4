"""The operator float under contention (contract v1.2): 240 sales of six
sellers at once, each seller in its own process (so no seller lock orders
them), to one operator whose float covers exactly 60. A sale reserves on the
float in its own statement under the float's row lock, so exactly 60 are
sold and every other sale is a 409 operator_unavailable that wrote nothing;
the float never goes negative (a CHECK would refuse it), and what failed
deliveries give back sells exactly as many again."""

import pytest
from django.db.models import Sum

from ledger.models import LedgerEntry
from recharges.delivery import Outcome, claim_due, record_outcomes
from recharges.floats import record_prepayment
from recharges.models import FloatEntry, OperatorFloat, Recharge
from tests.helpers.books import assert_books_balance
from tests.helpers.workers import outcomes, run_in_processes

pytestmark = pytest.mark.django_db(transaction=True)

AMOUNT = 10_000
COVERED = 60
SELLERS, SALES_EACH = 6, 40


def sales_at_once(sellers, round_: int) -> list[dict]:
    calls = [
        (
            "sell",
            {
                "seller_id": seller.pk,
                "phones": [f"+98912{round_}{s}{i:05d}" for i in range(SALES_EACH)],
                "amount": AMOUNT,
            },
        )
        for s, seller in enumerate(sellers)
    ]
    return outcomes(run_in_processes(calls))


def float_now() -> tuple[int, int]:
    account = OperatorFloat.objects.get(pk="mci")
    return account.balance, account.pending


def test_a_float_for_60_sales_sells_exactly_60_of_240_at_once_and_never_goes_negative(make_seller, staff_user):
    # Enough for both rounds' every sale: only the float refuses, never a balance (a 402).
    sellers = [make_seller(balance=2 * SALES_EACH * AMOUNT) for _ in range(SELLERS)]
    record_prepayment(operator="mci", amount=COVERED * AMOUNT, bank_reference="SATNA-RACE", created_by=staff_user)

    answers = sales_at_once(sellers, 1)

    assert sorted(answer["status"] for answer in answers) == [201] * COVERED + [409] * (SELLERS * SALES_EACH - COVERED)
    sold = [answer["recharge_id"] for answer in answers if answer["status"] == 201]
    assert sorted(Recharge.objects.values_list("id", flat=True)) == sorted(sold)
    assert Recharge.objects.filter(float_reserved=True).count() == COVERED
    assert float_now() == (COVERED * AMOUNT, COVERED * AMOUNT)
    assert LedgerEntry.objects.filter(kind="recharge").aggregate(total=Sum("amount"))["total"] == -COVERED * AMOUNT
    assert_books_balance(*(seller.pk for seller in sellers))

    # 40 delivered, 20 declined: the 20 give their reservation back.
    claim_due(limit=100, lease_seconds=30)
    record_outcomes(
        [
            Outcome(recharge_id, "successful", operator_reference=f"OP-{recharge_id}")
            if index < 40
            else Outcome(recharge_id, "failed", failure_code="operator_declined")
            for index, recharge_id in enumerate(sorted(sold))
        ]
    )
    assert float_now() == (20 * AMOUNT, 0)

    again = sales_at_once(sellers, 2)

    assert sorted(answer["status"] for answer in again) == [201] * 20 + [409] * (SELLERS * SALES_EACH - 20)
    assert float_now() == (20 * AMOUNT, 20 * AMOUNT)
    entries = FloatEntry.objects.filter(operator_id="mci")
    assert entries.aggregate(total=Sum("amount"))["total"] == 20 * AMOUNT
    assert entries.filter(kind="draw").count() == 40
    assert_books_balance(*(seller.pk for seller in sellers))
