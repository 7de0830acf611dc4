"""PostgreSQL itself keeps a recharge's lifecycle and its refund right: these
tests bypass the services (queryset .update() and raw SQL)."""

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import LedgerEntry
from ledger.services import post_commissions, post_refund
from recharges.models import MAX_RATE, CommissionRate, Recharge
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


# --- commissions (v1.2): the money a successful recharge earns, and only that ---

RATE = 300  # 3 %: a 5_000 sale earns commission_of(5_000, 300) = 150


@pytest.fixture
def commissioned(make_seller):
    """A pending 5_000 sale whose seller earns 3 % on mci, sold after the rate was set."""
    seller = make_seller(balance=100_000)
    CommissionRate.objects.create(seller=seller, operator_id="mci", rate=RATE)
    sell_recharge(seller_id=seller.pk, phone_number=PHONE, amount=5_000)
    return Recharge.objects.get(seller=seller)


def succeed(recharge):
    Recharge.objects.filter(pk=recharge.pk).update(
        status="successful", operator_reference="R1", completed_at="2026-01-01T00:00:00Z", next_attempt_at=None
    )


def insert_commission(recharge_id: int, amount: int, seller_id: int | None = None):
    """A commission entry written by hand, continuing its seller's running balance."""
    sql(
        "INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, recharge_id, created_at)"
        " SELECT s.id, s.ledger_sequence + 1, 'commission', %s, s.balance + %s, %s, now()"
        "   FROM sellers_seller s WHERE s.id = coalesce(%s, (SELECT seller_id FROM recharges_recharge WHERE id = %s))",
        [amount, amount, recharge_id, seller_id, recharge_id],
    )


def test_the_sale_fixes_the_rate_and_the_commission_is_the_rate_of_the_amount(commissioned):
    assert commissioned.commission_rate == RATE
    with connection.cursor() as cursor:
        cursor.execute("SELECT commission_of(%s, %s)", [commissioned.amount, commissioned.commission_rate])
        assert cursor.fetchone() == (150,)


def test_a_recharge_earns_one_commission(commissioned):
    with transaction.atomic():
        succeed(commissioned)
        post_commissions([(commissioned.seller_id, commissioned.pk, 150)])
    with refused("ledger_entry_one_per_recharge"), transaction.atomic():
        insert_commission(commissioned.pk, 150)


@pytest.mark.parametrize("final", ["pending", "failed"])
def test_only_a_successful_recharge_earns_a_commission(commissioned, final):
    with refused("recharge_commission_matches"), transaction.atomic():
        if final == "failed":
            fail(commissioned)
            post_refund(recharge=commissioned)
        insert_commission(commissioned.pk, 150)


@pytest.mark.parametrize("amount", [149, 151, 5_000])
def test_a_commission_is_exactly_its_rate_of_the_amount(commissioned, amount):
    with refused("recharge_commission_matches"), transaction.atomic():
        succeed(commissioned)
        insert_commission(commissioned.pk, amount)


def test_a_commission_goes_to_the_recharges_seller_only(commissioned, make_seller):
    other = make_seller(balance=100_000)
    with refused("recharge_commission_matches"), transaction.atomic():
        succeed(commissioned)
        insert_commission(commissioned.pk, 150, seller_id=other.pk)


def test_a_successful_recharge_must_have_its_commission_at_commit(commissioned):
    with refused("recharge_successful_is_commissioned"), transaction.atomic():
        succeed(commissioned)
        sql("SET CONSTRAINTS ALL IMMEDIATE")


def test_a_recharge_at_rate_zero_succeeds_without_a_commission(recharge):
    with transaction.atomic():
        succeed(recharge)
        sql("SET CONSTRAINTS ALL IMMEDIATE")
    assert recharge.commission_rate == 0
    assert not LedgerEntry.objects.filter(recharge=recharge, kind="commission").exists()


def test_a_commission_earns_nothing_at_rate_zero(recharge):
    """commission_of(5_000, 0) is 0, and an entry of 0 is no entry."""
    with refused("ledger_entry_amount_non_zero|ledger_entry_exactly_one_source"), transaction.atomic():
        succeed(recharge)
        insert_commission(recharge.pk, 0)


@pytest.mark.parametrize(
    "column, value", [("commission_rate", 0), ("commission_rate", 10_000), ("product", "'mci-1gb'")]
)
def test_the_rate_and_product_sold_never_change(commissioned, column, value):
    with refused("recharge_final_is_final"), transaction.atomic():
        sql(f"UPDATE recharges_recharge SET {column} = {value} WHERE id = %s", [commissioned.pk])


@pytest.mark.parametrize("rate", [-1, MAX_RATE + 1])
def test_a_commission_rate_is_between_0_and_10000_basis_points(make_seller, rate):
    seller = make_seller()
    with refused("commission_rate_in_range"), transaction.atomic():
        sql(
            "INSERT INTO recharges_commissionrate (seller_id, operator_id, rate) VALUES (%s, 'mci', %s)",
            [seller.pk, rate],
        )
    for edge in (0, MAX_RATE):
        CommissionRate.objects.update_or_create(seller=seller, operator_id="mci", defaults={"rate": edge})


@pytest.mark.parametrize(
    "amount, rate, commission",
    [
        (10**15, MAX_RATE, 10**15),  # the largest amount at 100 %: amount * rate would pass 2^63
        (10**15, MAX_RATE - 1, 10**15 - 10**11),
        (10**15 - 1, MAX_RATE - 1, (10**15 - 1) * 9_999 // 10_000),
        (9_999, 1, 0),  # floored, never rounded up
        (10_000, 1, 1),
        (2**63 - 1, MAX_RATE, 2**63 - 1),  # bigint's largest: still exact
    ],
)
def test_commission_of_is_the_floor_and_never_overflows(db, amount, rate, commission):
    with connection.cursor() as cursor:
        cursor.execute("SELECT commission_of(%s, %s)", [amount, rate])
        assert cursor.fetchone() == (commission,)
        # the exact floor, in numeric, over a spread of amounts and rates
        cursor.execute(
            "SELECT count(*) FROM generate_series(0, 20000, 7) a, generate_series(0, 10000, 97) r"
            " WHERE commission_of(a, r) <> floor(a::numeric * r / 10000)"
        )
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize(
    "status, final, constraint",
    [
        ("successful", "'R9', NULL", "recharge_successful_is_commissioned"),
        ("failed", "NULL, 'operator_declined'", "recharge_failed_is_refunded"),
    ],
)
def test_a_recharge_written_final_from_the_start_must_have_its_money_too(commissioned, status, final, constraint):
    """The commit checks hold for a row INSERTed final, not only for one UPDATEd to it."""
    with refused(constraint), transaction.atomic():
        sql(
            "INSERT INTO recharges_recharge (seller_id, phone_number_id, amount, operator, commission_rate, created_at,"
            "  attempts, last_error, next_attempt_at, status, operator_reference, failure_code, completed_at)"
            f" SELECT seller_id, phone_number_id, amount, operator, commission_rate, now(), 0, '', NULL, %s, {final},"
            "  now() FROM recharges_recharge WHERE id = %s",
            [status, commissioned.pk],
        )
        sql("SET CONSTRAINTS ALL IMMEDIATE")
