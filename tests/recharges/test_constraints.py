"""PostgreSQL itself keeps a recharge's lifecycle and its refund right: these
tests bypass the services (queryset .update() and raw SQL)."""

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.services import post_refund
from recharges.models import Recharge
from recharges.services import sell_recharge

PHONE = "+989121234567"


def sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(constraint: str):
    return pytest.raises(IntegrityError, match=constraint)


@pytest.fixture
def recharge(make_seller):
    seller = make_seller(balance=100_000)
    sell_recharge(seller_id=seller.pk, phone_number=PHONE, amount=5_000)
    return Recharge.objects.get(seller=seller)


def fail(recharge):
    Recharge.objects.filter(pk=recharge.pk).update(
        status="failed",
        failure_code="operator_declined",
        failure_message="declined",
        completed_at="2026-01-01T00:00:00Z",
        next_attempt_at=None,
    )


def test_a_sale_is_pending_and_queued(recharge):
    assert (recharge.status, recharge.operator, recharge.completed_at) == ("pending", "mci", None)
    assert recharge.next_attempt_at is not None and recharge.topup_requested_at is None


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "successful"},  # no reference, no completion time
        {"status": "failed", "completed_at": "2026-01-01T00:00:00Z", "next_attempt_at": None},  # no failure code
        {"status": "failed", "failure_code": "lost", "completed_at": "2026-01-01T00:00:00Z", "next_attempt_at": None},
        {"operator_reference": "X"},  # a reference while pending
        {"status": "delivered"},
    ],
)
def test_fields_must_match_the_status(recharge, fields):
    with refused("recharge_fields_match_status|recharge_status_valid"), transaction.atomic():
        Recharge.objects.filter(pk=recharge.pk).update(**fields)


def test_a_final_recharge_is_not_queued(recharge):
    with refused("recharge_final_not_queued"), transaction.atomic():
        Recharge.objects.filter(pk=recharge.pk).update(
            status="successful", operator_reference="R1", completed_at="2026-01-01T00:00:00Z"
        )


def test_a_final_status_never_changes(recharge):
    Recharge.objects.filter(pk=recharge.pk).update(
        status="successful", operator_reference="R1", completed_at="2026-01-01T00:00:00Z", next_attempt_at=None
    )
    with refused("recharge_final_is_final"), transaction.atomic():
        sql("UPDATE recharges_recharge SET operator_reference = 'R2' WHERE id = %s", [recharge.pk])
    with refused("recharge_final_is_final"), transaction.atomic():
        sql(
            "UPDATE recharges_recharge SET status = 'pending', operator_reference = NULL, completed_at = NULL"
            " WHERE id = %s",
            [recharge.pk],
        )


def test_what_was_sold_never_changes(recharge):
    with refused("recharge_final_is_final"), transaction.atomic():
        sql("UPDATE recharges_recharge SET amount = 1 WHERE id = %s", [recharge.pk])


def test_a_failed_recharge_must_be_refunded_at_commit(recharge):
    with refused("recharge_failed_is_refunded"), transaction.atomic():
        fail(recharge)
        sql("SET CONSTRAINTS ALL IMMEDIATE")


def test_only_a_failed_recharge_is_refunded(recharge):
    with refused("recharge_refund_matches"), transaction.atomic():
        post_refund(recharge=recharge)


def test_a_refund_is_exactly_the_amount(recharge):
    with refused("recharge_refund_matches"), transaction.atomic():
        fail(recharge)
        sql(
            "INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)"
            " SELECT seller_id, 3, 'refund', 4000, 99000, id, now() FROM recharges_recharge WHERE id = %s",
            [recharge.pk],
        )


def test_a_recharge_is_refunded_once(recharge):
    with transaction.atomic():
        fail(recharge)
        post_refund(recharge=recharge)
    with refused("ledger_entry_one_per_recharge"), transaction.atomic():
        sql(
            "INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)"
            " SELECT seller_id, 4, 'refund', amount, 105000, id, now() FROM recharges_recharge WHERE id = %s",
            [recharge.pk],
        )


def test_each_recharge_has_its_own_topup_reference_for_ever(recharge, make_seller):
    other = make_seller(balance=100_000)
    sell_recharge(seller_id=other.pk, phone_number=PHONE, amount=5_000)
    references = set(Recharge.objects.values_list("topup_reference", flat=True))
    assert len(references) == 2 and None not in references
    with refused("recharge_final_is_final"), transaction.atomic():
        sql("UPDATE recharges_recharge SET topup_reference = gen_random_uuid() WHERE id = %s", [recharge.pk])
    copy = (
        "INSERT INTO recharges_recharge (seller_id, phone_number_id, amount, operator, topup_reference)"
        " SELECT seller_id, phone_number_id, amount, operator, {} FROM recharges_recharge WHERE id = %s"
    )
    with refused("recharge_topup_reference_unique"), transaction.atomic():
        sql(copy.format("topup_reference"), [recharge.pk])
    with refused("topup_reference"), transaction.atomic():
        sql(copy.format("NULL"), [recharge.pk])
