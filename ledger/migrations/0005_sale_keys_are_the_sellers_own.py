"""The sale functions look up only the seller's own Idempotency-Keys.

Since idempotency 0004 a staff user's key for a seller is stored beside the
seller's own (staff_user_id set); a sale must neither replay nor refuse on
it, or a seller could probe which keys staff used on their account. The one
change to ledger_sell_recharge and ledger_sell_recharge_batch of 0003: the
replay lookup gains `AND staff_user_id IS NULL` (the partial UNIQUE index
idempotency_key_unique_per_seller serves it). Everything else, the stored
insert and the constraint name caught, is as it was.
"""

import importlib

from django.db import migrations

_RULES = importlib.import_module("ledger.migrations.0003_database_rules").RULES
_LOOKUP = "WHERE seller_id = p_seller AND key = p_key;"
_OWN_LOOKUP = "WHERE seller_id = p_seller AND key = p_key AND staff_user_id IS NULL;"
# 0003's two sale functions, from the first of them to the end of its SQL.
_SALE_FUNCTIONS = (
    "CREATE OR REPLACE FUNCTION ledger_sell_recharge(" + _RULES.split("CREATE FUNCTION ledger_sell_recharge(", 1)[1]
)
_SALE_FUNCTIONS = _SALE_FUNCTIONS.replace(
    "CREATE FUNCTION ledger_sell_recharge_batch(", "CREATE OR REPLACE FUNCTION ledger_sell_recharge_batch("
)
assert _SALE_FUNCTIONS.count(_LOOKUP) == 2, "0003's sale functions changed: rewrite this migration"


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_sell_recharge_by_token"),
        ("idempotency", "0004_staff_keys_apart_from_sellers"),
    ]

    operations = [migrations.RunSQL(_SALE_FUNCTIONS.replace(_LOOKUP, _OWN_LOOKUP), _SALE_FUNCTIONS)]
