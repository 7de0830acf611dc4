"""A recharge sold at one chosen time and delivered, with its commission, at
another: as tests/helpers/ledger_entries.py does for the other kinds, the rows
are written directly under the seller lock, and the ledger's triggers check
them just the same (the commission must be commission_of(amount, rate) of a
successful recharge, and a successful one must have it at commit)."""

from datetime import datetime

from django.db import transaction

from ledger.models import LedgerEntry
from recharges.models import PhoneNumber, Recharge
from sellers.models import Seller


def commissioned_sale_at(
    seller_id: int, *, amount: int, rate: int, commission: int, sold_at: datetime, paid_at: datetime
) -> Recharge:
    phone, _ = PhoneNumber.objects.get_or_create(e164="+989121234567")
    with transaction.atomic():
        recharge = Recharge.objects.create(
            seller_id=seller_id,
            phone_number=phone,
            amount=amount,
            operator="mci",
            commission_rate=rate,
            created_at=sold_at,
        )
        _append(seller_id, "recharge", -amount, sold_at, recharge)
        Recharge.objects.filter(pk=recharge.pk).update(
            status="successful", operator_reference=f"OP-{recharge.pk}", completed_at=paid_at, next_attempt_at=None
        )
        _append(seller_id, "commission", commission, paid_at, recharge)
    return recharge


def _append(seller_id: int, kind: str, amount: int, at: datetime, recharge: Recharge) -> None:
    seller = Seller.objects.select_for_update().get(pk=seller_id)
    entry = LedgerEntry.objects.create(
        seller=seller,
        sequence=seller.ledger_sequence + 1,
        kind=kind,
        amount=amount,
        balance_after=seller.balance + amount,
        created_at=at,
        recharge=recharge,
    )
    Seller.objects.filter(pk=seller_id).update(balance=entry.balance_after, ledger_sequence=entry.sequence)
