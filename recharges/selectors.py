from django.db.models import F
from django.shortcuts import get_object_or_404

from recharges.models import Recharge, RechargeBatch


def recharge_list(*, seller_id: int, idempotency_key: str | None = None):
    """A seller's recharges with the balance after each debit."""
    recharges = (
        Recharge.objects.filter(seller_id=seller_id)
        .select_related("phone_number")
        .annotate(balance_after=F("ledger_entries__balance_after"))
    )
    if idempotency_key is not None:
        recharges = recharges.filter(idempotency_key=idempotency_key)
    return recharges


def get_recharge(*, recharge_id: int, seller_id: int) -> Recharge:
    return get_object_or_404(recharge_list(seller_id=seller_id), pk=recharge_id)


def get_batch(*, batch_id: int, seller_id: int) -> tuple[RechargeBatch, list[Recharge]]:
    """The batch and its recharges in item order."""
    batch = get_object_or_404(RechargeBatch, pk=batch_id, seller_id=seller_id)
    return batch, list(recharge_list(seller_id=seller_id).filter(batch=batch).order_by("id"))
