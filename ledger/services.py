"""The ledger: the only code that changes a seller's balance.

Design rules (each also enforced by PostgreSQL; the triggers are in ledger/sql/):

1. `Seller.balance >= 0` (CHECK) and, at every commit, it equals the
   `balance_after` of the seller's last ledger entry (deferred trigger).
2. Entries of a seller are numbered 1, 2, 3, ... under the seller row lock and
   each `balance_after` is the previous one plus `amount` (trigger).
3. Each source (credit request, adjustment) posts at most once, a recharge
   its debit once and its refund at most once (UNIQUE per source and kind),
   so a re-saved or re-approved request cannot credit twice.
4. Entries are never updated or deleted (trigger; the model refuses too).

Credits, adjustments and refunds lock the seller row (`select_for_update`, in `_post`)
inside the caller's transaction, and keep it until commit:

- a credit runs in the approval's durable transaction, which has locked the
  credit request first: the one lock order is credit request, then seller;
- an adjustment runs in a transaction of its own, or nested in the durable one
  that records its Idempotency-Key (`idempotency.services.run_idempotent`).
  It inserts its `BalanceAdjustment` row before `_post` locks the seller. That
  insert takes no lock on the seller because every foreign key to
  `sellers_seller` is DEFERRABLE INITIALLY DEFERRED (Django's default on
  PostgreSQL): the key check, with its FOR KEY SHARE lock, runs at commit,
  when this transaction already holds the row lock. With an immediate key, two
  adjustments of one seller would each hold FOR KEY SHARE and wait for the
  other to release it before FOR UPDATE: a deadlock
  (tests/system/concurrency/test_deferred_foreign_keys.py keeps this so).

A refund runs in the transaction that makes its recharge failed, which has
locked the recharge first: recharge, then seller, then the callback event
(recharges/delivery.py, "Lock order").

Recharges are debited in SQL (ledger/sql/ledger_post_debit[s].sql, called by
the recharges app's sale statement) in autocommit: a conditional
`UPDATE ... WHERE balance >= amount` takes the row lock, then the entries are
appended.
No Python lock protects money: the service runs in many processes.
"""

from datetime import datetime
from functools import partial
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from config.errors import violated_constraint
from config.metrics import count_posting
from ledger.errors import (
    AdjustmentDecided,
    AlreadyPosted,
    BalanceLimitExceeded,
    InsufficientBalance,
    SecondApproverRequired,
)
from ledger.models import BalanceAdjustment, LedgerEntry
from sellers.models import Seller

# Balances and running balances are bigint columns.
MAX_BALANCE = 2**63 - 1
_ONE_PER_SOURCE = {
    "ledger_entry_one_per_credit_request",
    "ledger_entry_one_per_recharge",
    "ledger_entry_one_per_adjustment",
}


class CreditSource(Protocol):
    """What the ledger reads of an approved credit request (the credits app
    sits above the ledger, so the ledger does not import its model)."""

    seller_id: int
    amount: int


class RefundSource(Protocol):
    """What the ledger reads of a failed recharge (the recharges app sits
    above the ledger)."""

    pk: int
    seller_id: int
    amount: int
    created_at: datetime


def _post(*, seller_id: int, amount: int, kind: str, **source: Any) -> LedgerEntry:
    """Moves `amount` on the seller's balance and appends its entry.

    Must run inside the caller's transaction; the seller row lock is its first
    lock on that seller and is held until commit.
    """
    seller = Seller.objects.select_for_update().only("balance", "ledger_sequence").get(pk=seller_id)
    _check_postable(seller.balance, amount)
    balance_after = seller.balance + amount
    sequence = seller.ledger_sequence + 1
    Seller.objects.filter(pk=seller_id).update(balance=balance_after, ledger_sequence=sequence)
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                seller_id=seller_id, sequence=sequence, kind=kind, amount=amount, balance_after=balance_after, **source
            )
    except IntegrityError as error:
        if violated_constraint(error) in _ONE_PER_SOURCE:
            raise AlreadyPosted() from error
        raise
    transaction.on_commit(partial(count_posting, kind=kind, amount=amount))
    return entry


def _check_postable(balance: int, amount: int) -> None:
    """Raises the refusal of moving `amount` on this balance, if any."""
    if balance + amount < 0:
        raise InsufficientBalance(details={"balance": balance, "amount": -amount})
    if balance + amount > MAX_BALANCE:  # else PostgreSQL's "bigint out of range", a 500
        raise BalanceLimitExceeded(details={"balance": balance, "amount": amount, "limit": MAX_BALANCE})


def post_credit(*, credit_request: CreditSource) -> LedgerEntry:
    """Credits an approved credit request; call inside the approval's transaction."""
    return _post(
        seller_id=credit_request.seller_id,
        amount=credit_request.amount,
        kind=LedgerEntry.Kind.CREDIT,
        credit_request=credit_request,
    )


def adjust_balance(*, seller_id: int, amount: int, reason: str, created_by: User) -> LedgerEntry | BalanceAdjustment:
    """Applies a staff correction; a negative one may not overdraw the balance.
    Returns its ledger entry; above FOUR_EYES_ADJUSTMENT_THRESHOLD (either
    sign) it posts nothing and returns the adjustment, waiting for a second
    staff member (`approve_adjustment`), unless the balance could not take
    it now (InsufficientBalance, BalanceLimitExceeded).

    Not durable, so that it can run nested in the transaction that records its
    Idempotency-Key (idempotency.services.run_idempotent); callers without a
    key (the admin, the API) call it outside any transaction, and it is then
    its own. The adjustment row goes in before the seller lock: see the
    module docstring on deferred foreign keys.
    """
    threshold = settings.FOUR_EYES_ADJUSTMENT_THRESHOLD
    if threshold is not None and abs(amount) > threshold:
        # Refused at once when it could not be posted now, as below the
        # threshold; the second approval checks again, under the seller's lock.
        _check_postable(Seller.objects.values_list("balance", flat=True).get(pk=seller_id), amount)
        return BalanceAdjustment.objects.create(
            seller_id=seller_id,
            amount=amount,
            reason=reason,
            created_by=created_by,
            status=BalanceAdjustment.Status.AWAITING_SECOND_APPROVAL,
        )
    with transaction.atomic():
        adjustment = BalanceAdjustment.objects.create(
            seller_id=seller_id, amount=amount, reason=reason, created_by=created_by
        )
        return _post(seller_id=seller_id, amount=amount, kind=LedgerEntry.Kind.ADJUSTMENT, adjustment=adjustment)


def approve_adjustment(*, seller_id: int, adjustment_id: int, approved_by: User) -> LedgerEntry:
    """The second approval of an adjustment that waits for one: posts it, once.

    Whoever made it, or the seller's own user, may not; approving an applied
    adjustment returns its entry. Locks the adjustment, then the seller.
    """
    with transaction.atomic(durable=True):
        # of=("self",): the seller row is read, not locked here; _post locks it next.
        waiting = BalanceAdjustment.objects.select_for_update(of=("self",)).select_related("seller")
        adjustment = get_object_or_404(waiting, pk=adjustment_id, seller_id=seller_id)
        if adjustment.status == BalanceAdjustment.Status.APPLIED:
            return LedgerEntry.objects.get(adjustment=adjustment)
        if adjustment.status == BalanceAdjustment.Status.REJECTED:
            raise AdjustmentDecided()
        if approved_by.pk in (adjustment.created_by_id, adjustment.seller.user_id):
            raise SecondApproverRequired()
        adjustment.status = BalanceAdjustment.Status.APPLIED
        adjustment.approved_by = approved_by
        adjustment.approved_at = timezone.now()
        adjustment.save(update_fields=["status", "approved_by", "approved_at"])
        return _post(
            seller_id=seller_id, amount=adjustment.amount, kind=LedgerEntry.Kind.ADJUSTMENT, adjustment=adjustment
        )


def reject_adjustment(*, seller_id: int, adjustment_id: int, rejected_by: User) -> BalanceAdjustment:
    """Rejects an adjustment waiting for its second approval: it never posts.
    Any staff member who may adjust may (its maker too, withdrawing it);
    rejecting a rejected adjustment returns it unchanged."""
    with transaction.atomic(durable=True):
        waiting = BalanceAdjustment.objects.select_for_update()
        adjustment = get_object_or_404(waiting, pk=adjustment_id, seller_id=seller_id)
        if adjustment.status == BalanceAdjustment.Status.REJECTED:
            return adjustment
        if adjustment.status == BalanceAdjustment.Status.APPLIED:
            raise AdjustmentDecided()
        adjustment.status = BalanceAdjustment.Status.REJECTED
        adjustment.rejected_by = rejected_by
        adjustment.rejected_at = timezone.now()
        adjustment.save(update_fields=["status", "rejected_by", "rejected_at"])
        return adjustment


def post_refund(*, recharge: RefundSource) -> LedgerEntry:
    """Returns a failed recharge's amount, and frees it from its day's total
    for daily_amount; call inside the transaction that makes it failed (a
    trigger checks the recharge, UNIQUE makes it once)."""
    entry = _post(
        seller_id=recharge.seller_id, amount=recharge.amount, kind=LedgerEntry.Kind.REFUND, recharge_id=recharge.pk
    )
    with connection.cursor() as cursor:  # under the seller lock _post took
        cursor.execute(
            "SELECT ledger_release_daily_amount(%s, %s, business_day(%s, %s))",
            [recharge.seller_id, recharge.amount, recharge.created_at, settings.BUSINESS_TIME_ZONE],
        )
    return entry


def post_commissions(commissions: list[tuple[int, int, int]]) -> None:
    """Credits each (seller id, recharge id, amount) commission, in the
    transaction that made those recharges successful, after locking them
    (a trigger checks each against its recharge, UNIQUE makes it once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ledger_post_commissions(%s, %s, %s)",
            [[c[0] for c in commissions], [c[1] for c in commissions], [c[2] for c in commissions]],
        )
    for _, _, amount in commissions:
        transaction.on_commit(partial(count_posting, kind=LedgerEntry.Kind.COMMISSION, amount=amount))
