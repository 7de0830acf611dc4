"""The platform's float at each operator: the only code that changes it.

Rules (each also enforced by PostgreSQL):

1. `OperatorFloat.balance >= 0` and `pending >= 0` (CHECK): a float never
   goes negative, whatever runs at once.
2. Every change of a balance appends a FloatEntry, numbered per operator
   under the float's row lock, its `balance_after` the balance it left
   (trigger), and at commit the float equals its last entry (deferred
   trigger); entries are never changed (trigger). A prepayment posts once, a
   recharge draws once and is written off as a loss at most once (UNIQUE).
3. A sale reserves its amount on the float (`pending`) in its own statement
   (recharges/sql/operator_float_reserve.sql), refused 409 when the float
   less pending does not cover it; the transaction that makes the recharge
   final moves the reservation: a success draws the balance down
   (operator_float_draw.sql), a failure releases it (`release_reservation`).

The float row is locked last in every transaction that takes it (after the
recharges and the sellers, before the callback events: recharges/delivery.py,
"Lock order"), and only for a tracked operator: an operator with no
OperatorFloat row costs a sale one primary-key probe and no lock.
"""

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from config.errors import violated_constraint
from ledger.errors import SecondApproverRequired
from recharges.errors import FloatNotCovering
from recharges.models import FloatEntry, OperatorFloat, Prepayment


class PrepaymentAlreadyRecorded(Exception):
    """Raised when the operator's float already has a prepayment with this
    bank reference (one transfer tops a float up once); nothing was written."""


def record_prepayment(*, operator: str, amount: int, bank_reference: str, created_by: User) -> Prepayment:
    """Records money paid to `operator` and adds it to its float, which starts
    being tracked with its first prepayment. Above FOUR_EYES_PREPAYMENT_THRESHOLD
    it adds nothing and waits for a second staff member (`approve_prepayment`)."""
    threshold = settings.FOUR_EYES_PREPAYMENT_THRESHOLD
    waits = threshold is not None and amount > threshold
    try:
        with transaction.atomic(durable=True):
            prepayment = Prepayment.objects.create(
                operator_id=operator,
                amount=amount,
                bank_reference=bank_reference,
                created_by=created_by,
                status=Prepayment.Status.AWAITING_SECOND_APPROVAL if waits else Prepayment.Status.APPLIED,
            )
            if not waits:
                _post(operator=operator, amount=amount, kind=FloatEntry.Kind.PREPAYMENT, prepayment=prepayment)
    except IntegrityError as error:
        if violated_constraint(error) == "prepayment_bank_reference_unique":
            raise PrepaymentAlreadyRecorded() from error
        raise
    return prepayment


def approve_prepayment(*, prepayment_id: int, approved_by: User) -> Prepayment:
    """The second approval of a prepayment waiting for one: adds it to the
    float, once. Whoever recorded it may not (SecondApproverRequired);
    approving an applied one changes nothing. Locks the prepayment, then the float."""
    with transaction.atomic(durable=True):
        prepayment = Prepayment.objects.select_for_update().get(pk=prepayment_id)
        if prepayment.status == Prepayment.Status.APPLIED:
            return prepayment
        if approved_by.pk == prepayment.created_by_id:
            raise SecondApproverRequired()
        prepayment.status = Prepayment.Status.APPLIED
        prepayment.approved_by = approved_by
        prepayment.approved_at = timezone.now()
        prepayment.save(update_fields=["status", "approved_by", "approved_at"])
        _post(
            operator=prepayment.operator_id,
            amount=prepayment.amount,
            kind=FloatEntry.Kind.PREPAYMENT,
            prepayment=prepayment,
        )
        return prepayment


def write_off_loss(*, operator: str, recharge_id: int, amount: int, note: str) -> FloatEntry | None:
    """Draws `amount` off the operator's float for a recharge the operator
    charged and we refunded (a settlement found it): the platform paid
    twice, and the seller's books are not touched. Call inside the caller's
    transaction. None when the float is not tracked (nothing to draw from);
    FloatNotCovering when it would go below zero."""
    if not OperatorFloat.objects.filter(pk=operator).exists():
        return None
    return _post(operator=operator, amount=-amount, kind=FloatEntry.Kind.LOSS, recharge_id=recharge_id, note=note)


def draw_for_successes(recharge_ids: list[int]) -> None:
    """Draws the tracked floats down by recharges this transaction has just
    made successful (operator_float_draw.sql); call after their sellers are
    locked. FloatNotCovering when a float cannot pay for them: only a
    recharge sold before its float was tracked reserved nothing, and can."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT operator_float_draw(%s)", [recharge_ids])
    except IntegrityError as error:
        if violated_constraint(error) != "operator_float_balance_non_negative":
            raise
        raise FloatNotCovering(details={"recharges": recharge_ids}) from error


def release_reservation(*, operator: str, amount: int) -> None:
    """Gives back what a sale reserved on its operator's float, in the
    transaction that makes its recharge failed (after its refund)."""
    OperatorFloat.objects.filter(pk=operator).update(pending=F("pending") - amount)


def set_float_alert(*, operator: str, alert_below_hours: int) -> None:
    """Sets the hours left under which the float warns; the money is untouched."""
    OperatorFloat.objects.filter(pk=operator).update(alert_below_hours=alert_below_hours)


def _post(*, operator: str, amount: int, kind: str, **source) -> FloatEntry:
    """Moves `amount` on the operator's float (creating it at the first
    prepayment) and appends its entry, under the float's row lock."""
    OperatorFloat.objects.get_or_create(pk=operator)
    account = OperatorFloat.objects.select_for_update(no_key=True).get(pk=operator)
    balance_after = account.balance + amount
    if balance_after < 0:
        raise FloatNotCovering(details={"operator": operator, "balance": account.balance, "amount": -amount})
    sequence = account.sequence + 1
    OperatorFloat.objects.filter(pk=operator).update(balance=balance_after, sequence=sequence)
    return FloatEntry.objects.create(
        operator_id=operator, sequence=sequence, kind=kind, amount=amount, balance_after=balance_after, **source
    )
