"""The database itself refuses bad money rows, whatever path they come by:
these tests bypass the services with queryset .update() and raw SQL."""

import pytest
from django.db import IntegrityError, connection, transaction

from credits.models import CreditRequest
from credits.services import approve_credit_request, request_credit
from ledger.errors import AlreadyPosted
from ledger.models import LedgerEntry
from recharges.models import PhoneNumber, Recharge
from sellers.models import Seller


def sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(constraint: str):
    """Expects the statement inside to fail on the named constraint."""
    return pytest.raises(IntegrityError, match=constraint)


@pytest.fixture
def funded(make_seller):
    return make_seller(balance=10_000)


def test_balance_cannot_go_negative(funded):
    with refused("seller_balance_non_negative"), transaction.atomic():
        Seller.objects.filter(pk=funded.pk).update(balance=-1)


def test_balance_cannot_change_without_a_ledger_entry(funded):
    with refused("seller_balance_matches_ledger"), transaction.atomic():
        Seller.objects.filter(pk=funded.pk).update(balance=20_000)
        sql("SET CONSTRAINTS ALL IMMEDIATE")


def test_ledger_rows_cannot_be_updated(funded):
    with refused("append-only"), transaction.atomic():
        LedgerEntry.objects.filter(seller=funded).update(amount=999_999)
    with refused("append-only"), transaction.atomic():
        sql("UPDATE ledger_ledgerentry SET balance_after = 0")


def test_ledger_rows_cannot_be_deleted(funded):
    with refused("append-only"), transaction.atomic():
        sql("DELETE FROM ledger_ledgerentry")
    assert LedgerEntry.objects.filter(seller=funded).count() == 1


def test_the_model_refuses_to_save_an_existing_entry(funded):
    entry = LedgerEntry.objects.get(seller=funded)
    entry.amount = 1
    with pytest.raises(ValueError, match="append-only"):
        entry.save()


def test_an_entry_must_continue_the_running_balance(funded, staff_user):
    credit = request_credit(seller_id=funded.pk, amount=5_000)
    with refused("ledger_entry_running_balance"), transaction.atomic():
        LedgerEntry.objects.create(
            seller=funded, sequence=2, kind="credit", amount=5_000, balance_after=99_999, credit_request=credit
        )
    with refused("ledger_entry_running_balance"), transaction.atomic():
        LedgerEntry.objects.create(
            seller=funded, sequence=5, kind="credit", amount=5_000, balance_after=15_000, credit_request=credit
        )


def test_a_sequence_number_is_used_once(funded):
    credit = request_credit(seller_id=funded.pk, amount=5_000)
    with refused("ledger_entry_sequence_unique_per_seller"), transaction.atomic():
        sql(
            "INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, credit_request_id, created_at)"
            " VALUES (%s, 1, 'credit', 5000, 5000, %s, now())",
            [funded.pk, credit.pk],
        )


@pytest.mark.parametrize(
    "kind, amount, source, constraint",
    [
        ("credit", -5_000, "credit_request", "ledger_entry_exactly_one_source"),
        ("recharge", 5_000, "credit_request", "ledger_entry_exactly_one_source"),
        ("credit", 0, "credit_request", "ledger_entry_amount_non_zero"),
        ("credit", 5_000, None, "ledger_entry_exactly_one_source"),
    ],
)
def test_entry_kind_sign_and_source_must_agree(funded, kind, amount, source, constraint):
    credit = request_credit(seller_id=funded.pk, amount=5_000)
    sources = {"credit_request": credit} if source else {}
    with refused(constraint), transaction.atomic():
        LedgerEntry.objects.create(
            seller=funded, sequence=2, kind=kind, amount=amount, balance_after=10_000 + amount, **sources
        )


def test_decided_request_cannot_go_back_to_pending(funded):
    credit = CreditRequest.objects.get(seller=funded)
    with refused("credit_request_frozen_once_decided"), transaction.atomic():
        CreditRequest.objects.filter(pk=credit.pk).update(status="pending", decided_at=None, decided_by=None)
    with refused("credit_request_frozen_once_decided"), transaction.atomic():
        CreditRequest.objects.filter(pk=credit.pk).update(amount=10**12)


def test_a_request_credits_once_even_if_forced_back_to_pending(funded, staff_user):
    """Even with the freezing trigger switched off, the one-entry-per-source
    constraint refuses a second credit for the same request."""
    credit = CreditRequest.objects.get(seller=funded)
    sql("SET session_replication_role = replica")  # ordinary triggers do not fire
    try:
        sql(
            "UPDATE credits_creditrequest SET status = 'pending', decided_at = NULL, decided_by_id = NULL WHERE id = %s",
            [credit.pk],
        )
    finally:
        sql("SET session_replication_role = origin")
    with pytest.raises(AlreadyPosted):
        approve_credit_request(credit_request_id=credit.pk, decided_by=staff_user)
    funded.refresh_from_db()
    assert funded.balance == 10_000


@pytest.mark.parametrize("amount", [0, -1, 10**15 + 1])
def test_amounts_out_of_range_are_refused(funded, amount):
    with refused("credit_request_amount_in_range"), transaction.atomic():
        CreditRequest.objects.create(seller=funded, amount=amount)
    phone = PhoneNumber.objects.create(e164="+989121234567")
    with refused("recharge_amount_in_range"), transaction.atomic():
        Recharge.objects.create(seller=funded, phone_number=phone, amount=amount)


def test_adjustment_may_not_be_zero(funded, staff_user):
    with refused("adjustment_amount_non_zero_in_range"), transaction.atomic():
        sql(
            "INSERT INTO ledger_balanceadjustment (seller_id, amount, reason, created_by_id, created_at)"
            " VALUES (%s, 0, 'x', %s, now())",
            [funded.pk, staff_user.pk],
        )


def test_phone_numbers_are_e164_iranian_mobiles(db):
    with refused("phone_number_e164_ir_mobile"), transaction.atomic():
        PhoneNumber.objects.create(e164="02112345678")


@pytest.mark.parametrize(
    "limit", ["max_recharge_amount", "daily_amount", "number_hourly_count", "low_balance_threshold"]
)
@pytest.mark.parametrize("value", [0, -1])
def test_a_seller_limit_is_positive_or_none(funded, limit, value):
    with refused("seller_limits_positive"), transaction.atomic():
        sql(f"UPDATE sellers_seller SET {limit} = %s WHERE id = %s", [value, funded.pk])
    sql(f"UPDATE sellers_seller SET {limit} = 1 WHERE id = %s", [funded.pk])
    sql(f"UPDATE sellers_seller SET {limit} = NULL WHERE id = %s", [funded.pk])


def test_the_days_amount_used_is_never_negative(funded):
    with refused("seller_daily_amount_used_non_negative"), transaction.atomic():
        sql("UPDATE sellers_seller SET daily_amount_used = -1 WHERE id = %s", [funded.pk])
