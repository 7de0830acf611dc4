"""Idempotency-Key for the endpoints served in Python (credit requests,
adjustments). Recharges do the same inside their SQL statement
(ledger migration 0003_database_rules)."""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from config.errors import ApplicationError, error_body, violated_constraint
from idempotency.models import IdempotencyRecord
from idempotency.selectors import stored_response

UNIQUE_KEYS = {"idempotency_key_unique_per_seller", "idempotency_key_unique_per_staff_user"}


def request_hash(data: Any) -> str:
    """Hash of the parsed JSON body: key order and white space do not count."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate (valid in JSON text) must not make a 500.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def run_idempotent(
    *,
    seller_id: int | None,
    key: str,
    endpoint: str,
    request_hash: str,
    action: Callable[[], tuple[int, dict[str, Any]]],
    staff_user_id: int | None = None,
) -> tuple[int, dict[str, Any], bool]:
    """Runs `action` once per (seller, key), or per (seller, staff user, key)
    for a staff user's request; a repeat gets the stored response.

    Returns (status, body, replayed). The response is stored in the action's
    own transaction. A concurrent repeat blocks on the unique index until
    the first commits, then fails on it, rolls back everything it
    did, and replays the first response. A business refusal (e.g. 402) is
    stored and replayed too; any other error keeps nothing, so the key can be
    used again.
    """
    lookup = {
        "seller_id": seller_id,
        "staff_user_id": staff_user_id,
        "key": key,
        "endpoint": endpoint,
        "request_hash": request_hash,
    }
    stored = stored_response(
        seller_id=seller_id, key=key, endpoint=endpoint, request_hash=request_hash, staff_user_id=staff_user_id
    )
    if stored is None:
        try:
            with transaction.atomic(durable=True):
                status, body = _outcome(action)
                IdempotencyRecord.objects.create(**lookup, status_code=status, response=body)
            return status, body, False
        except IntegrityError as error:
            if violated_constraint(error) not in UNIQUE_KEYS:
                raise
            stored = stored_response(
                seller_id=seller_id, key=key, endpoint=endpoint, request_hash=request_hash, staff_user_id=staff_user_id
            )
            assert stored is not None  # the record that won the race is committed
    return stored.status_code, json.loads(stored.body), True


def _outcome(action: Callable[[], tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
    try:
        return action()
    except ApplicationError as refusal:
        if not refusal.replayed_with_key:
            raise
        return refusal.status_code, error_body(refusal.code, refusal.message, refusal.details)


def purge_idempotency_records(*, older_than: datetime) -> int:
    """Deletes records created before `older_than`; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=older_than).delete()
    return deleted
