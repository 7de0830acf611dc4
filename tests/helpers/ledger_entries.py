"""Ledger entries at chosen times, for reports: the services stamp entries
with the database's clock, so these write the source row and its entry
directly, under the seller lock, as the ledger service does (the triggers and
constraints check them just the same)."""

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from credits.models import CreditRequest
from ledger.models import BalanceAdjustment, LedgerEntry
from recharges.models import PhoneNumber, Recharge
from sellers.models import Seller


def entry_at(seller_id: int, kind: str, amount: int, at: datetime) -> LedgerEntry:
    """Appends one entry of `kind` moving `amount` (signed) at `at`."""
    with transaction.atomic():
        seller = Seller.objects.select_for_update().get(pk=seller_id)
        source = _source(seller, kind, amount, at)
        entry = LedgerEntry.objects.create(
            seller=seller,
            sequence=seller.ledger_sequence + 1,
            kind=kind,
            amount=amount,
            balance_after=seller.balance + amount,
            created_at=at,
            **source,
        )
        Seller.objects.filter(pk=seller_id).update(balance=entry.balance_after, ledger_sequence=entry.sequence)
        return entry


def _source(seller, kind: str, amount: int, at: datetime) -> dict:
    staff, _ = get_user_model().objects.get_or_create(username="entries-staff", defaults={"is_staff": True})
    if kind == "credit":
        request = CreditRequest.objects.create(
            seller=seller, amount=amount, status="approved", decided_at=at, decided_by=staff, created_at=at
        )
        return {"credit_request": request}
    if kind == "adjustment":
        return {
            "adjustment": BalanceAdjustment.objects.create(
                seller=seller, amount=amount, reason="test", created_by=staff
            )
        }
    phone, _ = PhoneNumber.objects.get_or_create(e164="+989121234567")
    recharge = Recharge.objects.create(seller=seller, phone_number=phone, amount=-amount, created_at=at, operator="mci")
    return {"recharge": recharge}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


MAX_BALANCE = 2**63 - 1  # PostgreSQL's bigint


def raise_balance_to_the_limit(seller, staff, headroom: int) -> None:
    """Brings the balance to MAX_BALANCE - headroom through a ledger entry the
    database accepts (one adjustment whose entry carries the amount; only the
    API bounds amounts), so every rule of the books still holds."""
    seller.refresh_from_db()
    amount = MAX_BALANCE - headroom - seller.balance
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_balanceadjustment (seller_id, amount, reason, created_by_id, created_at)"
            " VALUES (%s, 1, 'test: near the limit', %s, now()) RETURNING id",
            [seller.pk, staff.pk],
        )
        adjustment = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE sellers_seller SET balance = %s, ledger_sequence = ledger_sequence + 1 WHERE id = %s"
            " RETURNING ledger_sequence",
            [MAX_BALANCE - headroom, seller.pk],
        )
        sequence = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO ledger_ledgerentry (seller_id, sequence, kind, amount, balance_after, adjustment_id, created_at)"
            " VALUES (%s, %s, 'adjustment', %s, %s, %s, now())",
            [seller.pk, sequence, amount, MAX_BALANCE - headroom, adjustment],
        )
