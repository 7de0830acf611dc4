"""The platform's float at each operator (contract v1.2, "The platform's own
account at each operator"): untracked it changes nothing; tracked, a sale
reserves on it, a success draws it down, a failure gives the reservation
back, and a sale it cannot cover is a 409 that wrote nothing."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from config.metrics import exposition
from idempotency.models import IdempotencyRecord
from ledger.errors import SecondApproverRequired
from recharges.delivery import Outcome, claim_due, record_outcomes, resolve_recharge
from recharges.errors import FloatNotCovering
from recharges.floats import PrepaymentAlreadyRecorded, approve_prepayment, record_prepayment
from recharges.models import FloatEntry, OperatorFloat, Prepayment, Recharge
from recharges.services import sell_recharge, sell_recharge_batch
from tests.helpers.api import API, START_BALANCE, assert_error, balance, nothing_written, post, recharge_body

AMOUNT = 5000
MCI_NUMBER = "+989121234567"
IRANCELL_NUMBER = "+989351234567"


def float_of(operator: str = "mci") -> tuple[int, int]:
    account = OperatorFloat.objects.get(pk=operator)
    return account.balance, account.pending


def assert_float_books(operator: str = "mci") -> None:
    """The balance is the sum of its entries, and the entries chain."""
    account = OperatorFloat.objects.get(pk=operator)
    entries = list(FloatEntry.objects.filter(operator_id=operator).order_by("sequence"))
    assert [entry.sequence for entry in entries] == list(range(1, account.sequence + 1))
    running = 0
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running
    assert running == account.balance


def sold_id(result) -> int:
    assert result.status_code == 201, result.body
    return json.loads(result.body)["id"]


def test_with_no_float_tracked_a_sale_reserves_nothing(seller_a):
    recharge_id = sold_id(sell_recharge(seller_id=seller_a.pk, phone_number=MCI_NUMBER, amount=AMOUNT))
    assert not Recharge.objects.get(pk=recharge_id).float_reserved
    assert not OperatorFloat.objects.exists()


def test_a_prepayment_starts_tracking_and_is_its_first_entry(staff_user):
    record_prepayment(operator="mci", amount=50_000, bank_reference="SATNA-1", created_by=staff_user)
    assert float_of() == (50_000, 0)
    entry = FloatEntry.objects.get()
    assert (entry.kind, entry.amount, entry.balance_after, entry.sequence) == ("prepayment", 50_000, 50_000, 1)
    with pytest.raises(PrepaymentAlreadyRecorded):
        record_prepayment(operator="mci", amount=50_000, bank_reference="SATNA-1", created_by=staff_user)
    assert float_of() == (50_000, 0)


def test_a_sale_reserves_a_success_draws_a_failure_gives_back(seller_a, staff_user):
    record_prepayment(operator="mci", amount=3 * AMOUNT, bank_reference="B-1", created_by=staff_user)
    ok, failed = (
        sold_id(sell_recharge(seller_id=seller_a.pk, phone_number=f"+98912123000{i}", amount=AMOUNT)) for i in (1, 2)
    )
    assert float_of() == (3 * AMOUNT, 2 * AMOUNT)
    assert Recharge.objects.get(pk=ok).float_reserved

    claim_due(limit=10, lease_seconds=30)
    record_outcomes(
        [
            Outcome(ok, "successful", operator_reference="OP-1"),
            Outcome(failed, "failed", failure_code="operator_declined"),
        ]
    )

    assert float_of() == (2 * AMOUNT, 0)
    draw = FloatEntry.objects.get(kind="draw")
    assert (draw.recharge_id, draw.amount, draw.balance_after) == (ok, -AMOUNT, 2 * AMOUNT)
    assert_float_books()


def test_staff_resolving_a_recharge_moves_the_float_like_the_worker(seller_a, staff_user):
    record_prepayment(operator="mci", amount=2 * AMOUNT, bank_reference="B-2", created_by=staff_user)
    first, second = (
        sold_id(sell_recharge(seller_id=seller_a.pk, phone_number=f"+98912123000{i}", amount=AMOUNT)) for i in (1, 2)
    )
    resolve_recharge(recharge_id=first, successful=True, operator_reference="OP-9", resolved_by=staff_user)
    resolve_recharge(recharge_id=second, successful=False, resolved_by=staff_user)
    assert float_of() == (AMOUNT, 0)
    assert_float_books()


@pytest.mark.django_db(transaction=True)  # the 409 undoes the sale's statement by raising
def test_a_sale_the_float_cannot_cover_is_409_written_nowhere_and_replayed(client_a, staff_user):
    record_prepayment(operator="mci", amount=AMOUNT, bank_reference="B-3", created_by=staff_user)
    assert post(client_a, f"{API}/recharges/", recharge_body(amount=AMOUNT)).status_code == 201

    with nothing_written():
        before = float_of()
        refused = post(client_a, f"{API}/recharges/", recharge_body(amount=1000))
        assert float_of() == before
    assert_error(refused, 409, "operator_unavailable", {"operator": "mci"})

    first = post(client_a, f"{API}/recharges/", recharge_body(amount=1000), key="k-409")
    assert_error(first, 409, "operator_unavailable", {"operator": "mci"})
    assert IdempotencyRecord.objects.filter(key="k-409", status_code=409).count() == 1
    # Even once the float could cover it, the key replays the refusal.
    record_prepayment(operator="mci", amount=AMOUNT, bank_reference="B-4", created_by=staff_user)
    replay = post(client_a, f"{API}/recharges/", recharge_body(amount=1000), key="k-409")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (409, first.json(), "true")
    assert balance(client_a) == START_BALANCE - AMOUNT
    assert float_of() == (2 * AMOUNT, AMOUNT)


@pytest.mark.django_db(transaction=True)  # the 409 undoes the sale's statement by raising
def test_a_tracked_sale_is_still_one_statement(client_a, staff_user, django_assert_num_queries):
    record_prepayment(operator="mci", amount=AMOUNT, bank_reference="B-5", created_by=staff_user)
    with django_assert_num_queries(1):
        assert post(client_a, f"{API}/recharges/", recharge_body(amount=AMOUNT)).status_code == 201
    # Refused, the fast path leaves it to the general one (as a 403 limit_exceeded):
    # authentication, the sale again, its refusal.
    with django_assert_num_queries(3):
        assert_error(post(client_a, f"{API}/recharges/", recharge_body(amount=1)), 409, "operator_unavailable")


@pytest.mark.django_db(transaction=True)  # the 409 undoes the sale's statement by raising
def test_a_batch_one_float_cannot_cover_is_refused_whole(seller_a, staff_user):
    record_prepayment(operator="irancell", amount=AMOUNT, bank_reference="B-6", created_by=staff_user)
    items = [(MCI_NUMBER, AMOUNT, "mci"), (IRANCELL_NUMBER, AMOUNT, "irancell"), ("+989351234568", 1, "irancell")]
    with nothing_written():
        result = sell_recharge_batch(seller_id=seller_a.pk, items=items)
    assert result.status_code == 409
    assert '"operator":"irancell"' in result.body.replace(" ", "")
    assert float_of("irancell") == (AMOUNT, 0)

    sold = sell_recharge_batch(seller_id=seller_a.pk, items=items[:2])
    assert sold.status_code == 201
    assert float_of("irancell") == (AMOUNT, AMOUNT)
    assert dict(Recharge.objects.values_list("operator", "float_reserved")) == {"mci": False, "irancell": True}


def test_a_recharge_sold_before_tracking_draws_but_reserved_nothing(seller_a, staff_user):
    recharge_id = sold_id(sell_recharge(seller_id=seller_a.pk, phone_number=MCI_NUMBER, amount=AMOUNT))
    record_prepayment(operator="mci", amount=2 * AMOUNT, bank_reference="B-7", created_by=staff_user)
    resolve_recharge(recharge_id=recharge_id, successful=True, operator_reference="OP-1", resolved_by=staff_user)
    assert float_of() == (AMOUNT, 0)
    assert_float_books()


def test_a_large_prepayment_waits_for_a_second_staff_member(settings, staff_user):
    settings.FOUR_EYES_PREPAYMENT_THRESHOLD = 10_000
    prepayment = record_prepayment(operator="mci", amount=20_000, bank_reference="B-8", created_by=staff_user)
    assert prepayment.status == Prepayment.Status.AWAITING_SECOND_APPROVAL
    assert not FloatEntry.objects.exists()
    with pytest.raises(SecondApproverRequired):
        approve_prepayment(prepayment_id=prepayment.pk, approved_by=staff_user)
    second = get_user_model().objects.create_user(username="second", is_staff=True)
    approve_prepayment(prepayment_id=prepayment.pk, approved_by=second)
    approve_prepayment(prepayment_id=prepayment.pk, approved_by=second)  # again: once
    assert float_of() == (20_000, 0)
    assert FloatEntry.objects.aggregate(total=Sum("amount"))["total"] == 20_000


def test_a_float_cannot_move_without_its_entry(staff_user):
    record_prepayment(operator="mci", amount=AMOUNT, bank_reference="B-13", created_by=staff_user)
    refused = pytest.raises(IntegrityError, match="does not match its entries")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE recharges_operatorfloat SET balance = balance + 1")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError, match="balance_after"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recharges_floatentry (operator_id, sequence, kind, amount, balance_after, prepayment_id, note,"
            " created_at) SELECT 'mci', 2, 'prepayment', 1, 1, id, '', now() FROM recharges_prepayment"
        )
    assert float_of() == (AMOUNT, 0)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE recharges_operatorfloat SET balance = -1",
        "UPDATE recharges_operatorfloat SET pending = -1",
        "UPDATE recharges_floatentry SET amount = 1",
        "DELETE FROM recharges_floatentry",
    ],
)
def test_the_database_refuses_a_negative_float_and_changed_entries(staff_user, sql):
    record_prepayment(operator="mci", amount=AMOUNT, bank_reference="B-9", created_by=staff_user)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert float_of() == (AMOUNT, 0)


def test_the_metrics_carry_each_tracked_float(seller_a, staff_user):
    record_prepayment(operator="mci", amount=3 * AMOUNT, bank_reference="B-10", created_by=staff_user)
    sold_id(sell_recharge(seller_id=seller_a.pk, phone_number=MCI_NUMBER, amount=AMOUNT))

    text = exposition().decode()

    assert 'recharge_operator_float_available_rials{operator="mci"} 10000.0' in text
    assert 'recharge_operator_float_pending_rials{operator="mci"} 5000.0' in text
    assert 'recharge_operator_float_hours_left{operator="mci"} +Inf' in text
    assert 'recharge_operator_float_alert_below_hours{operator="mci"} 24.0' in text
    assert 'operator="irancell"' not in text.split("recharge_operator_float")[-1]


def test_a_success_the_float_cannot_pay_waits_for_staff_and_staff_are_told(seller_a, staff_user):
    """Only a recharge sold before its float was tracked can meet a float too
    small for it: it reserved nothing. Its success is not written."""
    early = sold_id(sell_recharge(seller_id=seller_a.pk, phone_number=MCI_NUMBER, amount=AMOUNT))
    record_prepayment(operator="mci", amount=AMOUNT - 1, bank_reference="B-11", created_by=staff_user)
    claim_due(limit=10, lease_seconds=30)

    record_outcomes([Outcome(early, "successful", operator_reference="OP-1")])

    parked = Recharge.objects.get(pk=early)
    assert (parked.status, parked.next_attempt_at) == ("pending", None)
    assert "float does not cover" in parked.last_error
    with pytest.raises(FloatNotCovering):  # staff, too, are refused until a prepayment is recorded
        resolve_recharge(recharge_id=early, successful=True, operator_reference="OP-2", resolved_by=staff_user)
    assert Recharge.objects.get(pk=early).status == "pending"
    assert float_of() == (AMOUNT - 1, 0)
    assert_float_books()


@pytest.mark.django_db(transaction=True)  # the 409 undoes the sale's statement by raising
def test_validate_only_gives_the_409_the_sale_would(client_a, staff_user):
    record_prepayment(operator="mci", amount=AMOUNT, bank_reference="B-12", created_by=staff_user)
    with nothing_written():
        ok = post(client_a, f"{API}/recharges/?validate_only=true", recharge_body(amount=AMOUNT))
        refused = post(client_a, f"{API}/recharges/?validate_only=true", recharge_body(amount=AMOUNT + 1))
    assert ok.status_code == 200
    assert_error(refused, 409, "operator_unavailable", {"operator": "mci"})
    assert float_of() == (AMOUNT, 0)
