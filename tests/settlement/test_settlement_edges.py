"""Settlement's edges, found by a hostile review (issue 24): statements the
operator could really hand out, and days the hourly job could really meet,
against real PostgreSQL and a real HTTP server serving the statement (the
gateway reads it over HTTP as from the simulator)."""

import json
from datetime import timedelta

import pytest
from django.db import connection

from config.dates import business_today, day_start
from recharges.delivery import Outcome, claim_due, record_outcomes, resolve_recharge
from recharges.floats import record_prepayment
from recharges.gateway import HttpGateway
from recharges.models import FloatEntry, Operator, OperatorFloat, Recharge
from recharges.services import sell_recharge
from settlement.models import Settlement, SettlementCase
from settlement.services import resolve_case, settle
from settlement.tasks import settle_yesterday
from tests.helpers.statement_server import statement_server

START = 1_000_000
AMOUNT = 5_000


@pytest.fixture
def server():
    with statement_server() as running:
        yield running


@pytest.fixture
def gateway(server):
    gateway = HttpGateway(server.base_url, connect_timeout=2, read_timeout=2)
    yield gateway
    gateway.close()


def sell(seller, last_four: str) -> Recharge:
    result = sell_recharge(seller_id=seller.pk, phone_number=f"+98912123{last_four}", amount=AMOUNT)
    assert result.status_code == 201, result.body
    return Recharge.objects.get(pk=json.loads(result.body)["id"])


def sent_and_answered(recharge: Recharge, status: str) -> Recharge:
    """As a worker: claimed (the top-up sent), then the operator's answer recorded."""
    claim_due(limit=100, lease_seconds=30)
    if status == "successful":
        record_outcomes([Outcome(recharge.pk, "successful", operator_reference="OP-1")])
    else:
        record_outcomes([Outcome(recharge.pk, "failed", failure_code="operator_declined")])
    recharge.refresh_from_db()
    assert recharge.status == status
    return recharge


def sold_yesterday_and_parked(seller, sold_at) -> Recharge:
    """A recharge sold at `sold_at` whose top-up was sent and never answered,
    past the horizon: parked for staff, still pending. Written as the
    settlement tests write a past sale (a sale's created_at never changes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recharges_phonenumber (e164, created_at) VALUES ('+989121230003', now()) RETURNING id"
        )
        (phone_id,) = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO recharges_recharge
                   (seller_id, phone_number_id, amount, operator, commission_rate, created_at, status,
                    next_attempt_at, topup_requested_at, attempts, last_error)
            VALUES (%s, %s, %s, 'mci', 0, %s, 'pending', NULL, %s, 9, 'past the horizon')
            RETURNING id
            """,
            [seller.pk, phone_id, AMOUNT, sold_at, sold_at],
        )
        (recharge_id,) = cursor.fetchone()
    return Recharge.objects.get(pk=recharge_id)


def test_a_reference_the_statement_charges_twice_is_a_case(make_seller, server, gateway):
    """The operator's statement carries one top-up twice, both charged (its
    side of the idempotency failed): the platform paid twice. It is one
    duplicate case, whose resolution writes the extra charge off the float."""
    seller = make_seller(balance=START)
    recharge = sent_and_answered(sell(seller, "0001"), "successful")
    today = business_today()
    for _ in range(2):
        server.add("mci", today, reference=str(recharge.topup_reference), msisdn="+989121230001",
                   amount=AMOUNT, status="successful")  # fmt: skip

    settlement = settle(operator="mci", day=today, gateway=gateway)

    assert (settlement.recharges, settlement.matched, settlement.statement_lines) == (1, 0, 1)
    case = SettlementCase.objects.get(reference=str(recharge.topup_reference))
    assert (case.kind, case.our_amount, case.their_amount) == ("duplicate", AMOUNT, 2 * AMOUNT)
    assert case.platform_loss == AMOUNT


def test_a_refunded_recharge_charged_at_another_amount_writes_the_loss(make_seller, server, gateway, staff_user):
    """Ours failed and refunded; theirs successful, at another amount: the
    platform paid (their amount) for a top-up it refunded. The outcome is
    compared before the amount, so it is the costly status mismatch, and its
    resolution writes their amount off the float."""
    seller = make_seller(balance=START)
    record_prepayment(operator="mci", amount=100_000, bank_reference="SATNA-R1", created_by=staff_user)
    recharge = sent_and_answered(sell(seller, "0002"), "failed")
    server.add("mci", business_today(), reference=str(recharge.topup_reference), msisdn="+989121230002",
               amount=AMOUNT + 1_000, status="successful")  # fmt: skip

    settle(operator="mci", day=business_today(), gateway=gateway)
    case = SettlementCase.objects.get()
    resolve_case(case_id=case.pk, note="MCI charged 6,000 for a top-up we refunded", resolved_by=staff_user)

    case.refresh_from_db()
    assert case.loss == AMOUNT + 1_000, case.kind
    assert OperatorFloat.objects.get(pk="mci").balance == 100_000 - (AMOUNT + 1_000)
    assert FloatEntry.objects.filter(kind="loss", recharge=recharge).exists()


def test_a_recharge_pending_when_its_day_was_settled_is_judged_once_final(make_seller, server, settings, staff_user):
    """A recharge still pending when the job settles its day is counted, and
    the day is settled again once it is final: the costliest case (charged
    there, refunded here by staff later) is still found."""
    settings.OPERATOR_GATEWAY_URL = server.base_url
    seller = make_seller(balance=START)
    yesterday = business_today() - timedelta(days=1)
    recharge = sold_yesterday_and_parked(seller, day_start(yesterday) + timedelta(hours=12))
    server.add("mci", yesterday, reference=str(recharge.topup_reference), msisdn="+989121230003",
               amount=AMOUNT, status="successful")  # fmt: skip

    settle_yesterday()  # 00:23: the recharge is still pending, not judged yet
    assert Settlement.objects.filter(operator="mci", day=yesterday).exists()
    resolve_recharge(recharge_id=recharge.pk, successful=False, resolved_by=staff_user)  # refunded
    settle_yesterday()  # every later hour

    assert SettlementCase.objects.filter(reference=str(recharge.topup_reference), kind="status_mismatch").exists()


def test_a_day_the_job_could_not_settle_before_midnight_is_still_settled(db, server, settings):
    """A day whose statement stayed unavailable for its 24 hourly tries (or
    whose settlement process was down that day) is settled by a later run:
    the job looks back SETTLEMENT_LOOKBACK_DAYS."""
    settings.OPERATOR_GATEWAY_URL = server.base_url
    day_before = business_today() - timedelta(days=2)

    settle_yesterday()

    assert Settlement.objects.filter(operator="mci", day=day_before).exists(), server.asked


@pytest.mark.parametrize(
    "msisdn, amount", [("+989121230004", 10**19), ("+98912\x0012345", AMOUNT)], ids=["amount-beyond-bigint", "nul-byte"]
)
def test_a_statement_line_postgresql_cannot_hold_is_an_unreadable_statement(db, server, settings, msisdn, amount):
    """A statement line whose amount is beyond the protocol's bounds, or with
    a NUL byte in a field, makes the statement unreadable (the gateway
    refuses it, as PostgreSQL could not hold it): that operator's day is not
    settled, and the operators after it still are."""
    settings.OPERATOR_GATEWAY_URL = server.base_url
    settings.SETTLEMENT_LOOKBACK_DAYS = 1
    yesterday = business_today() - timedelta(days=1)
    operators = list(Operator.objects.filter(enabled=True).values_list("code", flat=True))
    poisoned, others = operators[0], operators[1:]
    server.add(poisoned, yesterday, reference="0b2f5a1e-1111-4c2a-9d77-0e4b1f3a2c91", msisdn=msisdn,
               amount=amount, status="successful")  # fmt: skip

    settle_yesterday()

    assert sorted(Settlement.objects.values_list("operator_id", flat=True)) == sorted(others)
