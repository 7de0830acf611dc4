"""A key outlives its purged idempotency record (purge_idempotency_keys keeps
24 h): the recharge or batch it made still names it, so reusing it is 422 and
sells nothing, for single recharges and batches alike."""

import pytest

from idempotency.errors import IdempotencyKeyReused
from idempotency.models import IdempotencyRecord
from ledger.models import LedgerEntry
from recharges.services import sell_recharge, sell_recharge_batch

PHONE = "+989121234567"


@pytest.mark.django_db(transaction=True)  # as the service runs: each sale in autocommit
@pytest.mark.parametrize("batch", [False, True], ids=["recharge", "batch"])
def test_a_key_reused_after_its_record_is_purged_sells_nothing(make_seller, batch):
    seller = make_seller(balance=100_000)

    def sell():
        if batch:
            return sell_recharge_batch(
                seller_id=seller.pk, items=[(PHONE, 1_000)] * 3, idempotency_key="k1", request_hash="h"
            )
        return sell_recharge(
            seller_id=seller.pk, phone_number=PHONE, amount=1_000, idempotency_key="k1", request_hash="h"
        )

    assert sell().status_code == 201
    IdempotencyRecord.objects.all().delete()
    entries = LedgerEntry.objects.count()
    with pytest.raises(IdempotencyKeyReused):
        sell()
    seller.refresh_from_db()
    assert seller.balance == 100_000 - (3_000 if batch else 1_000)
    assert LedgerEntry.objects.count() == entries
