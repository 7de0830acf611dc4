"""Settlement against the operator simulator (a real subprocess): a clean day
settles with no case, and each difference planted by making the simulator
and our books disagree is found exactly once, however often the day is
settled again."""

import json
import time
import uuid
from datetime import timedelta
from io import StringIO

import jdatetime
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from config.dates import business_today, day_start
from ledger.models import LedgerEntry
from recharges.delivery import call_operator, claim_due, record_outcomes, resolve_recharge
from recharges.floats import record_prepayment
from recharges.models import FloatEntry, OperatorFloat, Recharge
from recharges.services import sell_recharge
from settlement.errors import CaseAlreadyResolved
from settlement.models import Settlement, SettlementCase
from settlement.services import resolve_case, settle
from tests.helpers.simulator import SimulatorProcess

START = 1_000_000
AMOUNT = 5_000


@pytest.fixture
def sim(tmp_path):
    simulator = SimulatorProcess(tmp_path / "sim.sqlite3", hang_seconds=3)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def gateway(sim):
    gateway = sim.gateway(read_timeout=2.0)
    yield gateway
    gateway.close()


def sell(seller, last_four: str, amount: int = AMOUNT) -> Recharge:
    result = sell_recharge(seller_id=seller.pk, phone_number=f"+98912123{last_four}", amount=amount)
    assert result.status_code == 201, result.body
    return Recharge.objects.get(pk=json.loads(result.body)["id"])


def deliver(gateway) -> None:
    """The worker's cycle until nothing is due (the sandbox numbers used here answer at once)."""
    while claims := claim_due(limit=100, lease_seconds=30):
        record_outcomes([call_operator(gateway, claim) for claim in claims])


def deliver_until_final(gateway, *, seconds: float = 40) -> None:
    """The worker's cycle until every recharge is final, status queries included."""
    deadline = time.monotonic() + seconds
    while Recharge.objects.filter(status="pending").exists():
        assert time.monotonic() < deadline, "recharges still pending"
        deliver(gateway)
        time.sleep(0.2)  # the next status query falls due (backoff of 1 s at most here)


def given_up(recharge: Recharge) -> None:
    """What the worker does past the delivery horizon: it stops asking, and
    the recharge waits for staff."""
    Recharge.objects.filter(pk=recharge.pk).update(next_attempt_at=None)


def settle_today(gateway) -> Settlement:
    return settle(operator="mci", day=business_today(), gateway=gateway)


def cases() -> list[tuple[str, str]]:
    return sorted(SettlementCase.objects.values_list("kind", "reference"))


@pytest.mark.django_db(transaction=True)  # status queries fall due by the database's clock, frozen in a transaction
def test_a_day_across_every_sandbox_ending_settles_with_no_case(make_seller, gateway, settings):
    """Successes, declines, rejected numbers, a top-up recorded but never
    answered (9991), one never recorded (9992: failed, absent from the
    statement), a flaky one (9993): our books and the statement agree."""
    settings.DELIVERY_MAX_BACKOFF_SECONDS = 1
    seller = make_seller(balance=START)
    for last_four in ("0001", "0002", "9990", "9991", "9992", "9993", "9994"):
        sell(seller, last_four)
    deliver_until_final(gateway)
    assert set(Recharge.objects.values_list("status", flat=True)) == {"successful", "failed"}

    settlement = settle_today(gateway)

    # 9992 is in our books only, failed: nothing was charged, as the statement says.
    counts = (settlement.statement_lines, settlement.recharges, settlement.matched, settlement.differences)
    assert counts == (6, 7, 7, 0)
    assert not SettlementCase.objects.exists()


def test_a_recharge_refunded_by_staff_that_the_operator_charged_is_found_once(make_seller, gateway, staff_user):
    seller = make_seller(balance=START)
    record_prepayment(operator="mci", amount=100_000, bank_reference="SATNA-S1", created_by=staff_user)
    refunded = sell(seller, "0002")
    # The top-up reached the operator (as a worker would have sent it) and
    # staff, seeing no answer once the worker gave it up, failed the recharge
    # with its refund.
    claim_due(limit=100, lease_seconds=30)
    answer = gateway.top_up(
        reference=str(refunded.topup_reference), number="+989121230002", amount=AMOUNT, operator="mci"
    )
    assert answer.outcome == "successful"
    given_up(refunded)
    resolve_recharge(recharge_id=refunded.pk, successful=False, resolved_by=staff_user)

    first = settle_today(gateway)
    again = settle_today(gateway)

    assert cases() == [("status_mismatch", str(refunded.topup_reference))]
    assert (first.differences, again.differences) == (1, 1)
    case = SettlementCase.objects.get()
    assert (case.our_status, case.their_status, case.their_amount, case.recharge_id) == (
        "failed",
        "successful",
        AMOUNT,
        refunded.pk,
    )
    seller_entries = LedgerEntry.objects.filter(seller=seller).count()

    resolve_case(case_id=case.pk, note="MCI charged it; claim filed", resolved_by=staff_user)

    case.refresh_from_db()
    assert case.loss == AMOUNT
    loss = FloatEntry.objects.get(kind="loss")
    assert (loss.recharge_id, loss.amount) == (refunded.pk, -AMOUNT)
    assert OperatorFloat.objects.get(pk="mci").balance == 100_000 - AMOUNT
    assert LedgerEntry.objects.filter(seller=seller).count() == seller_entries  # the seller keeps the refund
    with pytest.raises(CaseAlreadyResolved):
        resolve_case(case_id=case.pk, note="again", resolved_by=staff_user)


def test_a_top_up_in_the_statement_with_no_recharge_is_found_once(make_seller, gateway):
    seller = make_seller(balance=START)
    sell(seller, "0001")
    deliver(gateway)
    stranger = str(uuid.uuid4())
    assert gateway.top_up(reference=stranger, number="+989121239999", amount=7_000, operator="mci").outcome == (
        "successful"
    )
    other_form = "NOT-A-UUID-1"
    assert gateway.top_up(reference=other_form, number="+989121239998", amount=7_000, operator="mci").outcome == (
        "successful"
    )

    settle_today(gateway)
    settle_today(gateway)

    assert cases() == sorted([("theirs_only", stranger), ("theirs_only", other_form)])
    assert SettlementCase.objects.get(reference=stranger).their_amount == 7_000


def test_an_amount_mismatch_is_found_once(make_seller, gateway, staff_user):
    seller = make_seller(balance=START)
    recharge = sell(seller, "0001")
    claim_due(limit=100, lease_seconds=30)
    answer = gateway.top_up(
        reference=str(recharge.topup_reference), number="+989121230001", amount=AMOUNT + 1_000, operator="mci"
    )
    given_up(recharge)
    resolve_recharge(
        recharge_id=recharge.pk, successful=True, operator_reference=answer.operator_reference, resolved_by=staff_user
    )

    settle_today(gateway)
    settle_today(gateway)

    assert cases() == [("amount_mismatch", str(recharge.topup_reference))]
    case = SettlementCase.objects.get()
    assert (case.our_amount, case.their_amount) == (AMOUNT, AMOUNT + 1_000)


def test_a_success_the_operator_never_recorded_is_ours_only(make_seller, gateway, staff_user):
    seller = make_seller(balance=START)
    recharge = sell(seller, "0001")
    claim_due(limit=100, lease_seconds=30)  # sent, as far as we know
    given_up(recharge)
    resolve_recharge(recharge_id=recharge.pk, successful=True, operator_reference="BY-PHONE", resolved_by=staff_user)

    settle_today(gateway)

    assert cases() == [("ours_only", str(recharge.topup_reference))]


def test_the_command_takes_a_jalali_day(make_seller, gateway, sim, settings):
    settings.OPERATOR_GATEWAY_URL = sim.base_url
    seller = make_seller(balance=START)
    sell(seller, "0001")
    deliver(gateway)
    out = StringIO()

    call_command(
        "settle", operator="mci", date=jdatetime.date.fromgregorian(date=business_today()).isoformat(), stdout=out
    )

    assert "1 statement lines, 1 recharges, 1 matched, 0 differences" in out.getvalue()
    with pytest.raises(CommandError, match="no operator"):
        call_command("settle", operator="nope", date="1405-09-16")
    with pytest.raises(CommandError, match="--date"):
        call_command("settle", operator="mci", date="1405-13-40")


def test_a_top_up_sent_just_before_midnight_is_found_in_the_next_days_statement(make_seller, gateway):
    """Sold (and sent) yesterday, recorded by the operator today: yesterday's
    settlement finds it in today's statement, today's matches it by reference."""
    seller = make_seller(balance=START)
    reference = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recharges_phonenumber (e164, created_at) VALUES ('+989121230077', now()) RETURNING id"
        )
        (phone_id,) = cursor.fetchone()
        # Written final at once (the bench seeds so too): a successful recharge of rate 0 owes no commission.
        cursor.execute(
            """
            INSERT INTO recharges_recharge
                   (seller_id, phone_number_id, amount, operator, commission_rate, created_at, status, topup_reference,
                    operator_reference, completed_at, next_attempt_at, topup_requested_at, attempts, last_error)
            VALUES (%s, %s, %s, 'mci', 0, %s, 'successful', %s, 'OP-LATE', now(), NULL, now(), 1, '')
            """,
            [seller.pk, phone_id, AMOUNT, day_start(business_today()) - timedelta(seconds=1), reference],
        )
    gateway.top_up(reference=str(reference), number="+989121230077", amount=AMOUNT, operator="mci")

    yesterday = settle(operator="mci", day=business_today() - timedelta(days=1), gateway=gateway)
    today = settle_today(gateway)

    assert (yesterday.recharges, yesterday.differences) == (1, 0)
    assert (today.statement_lines, today.matched, today.differences) == (1, 1, 0)
    assert not SettlementCase.objects.exists()
