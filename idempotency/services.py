"""Idempotency-Key for Python-side endpoints, with the same SQL functions the
recharge statements use (idempotency migration 0002)."""

import hashlib
import json
from collections.abc import Callable

from django.db import connection, transaction

from config.errors import ApplicationError
from config.exceptions import error_body
from idempotency.errors import IdempotencyInProgress, IdempotencyKeyReused
from idempotency.models import IdempotencyRecord


def request_hash(data) -> str:
    """Hash of the parsed JSON body: key order and white space do not count."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_idempotent(
    *, seller_id: int, key: str, endpoint: str, request_hash: str, action: Callable[[], tuple[int, dict]]
) -> tuple[int, dict, bool]:
    """Runs `action` once per (seller, key); a repeat gets the stored response.

    Returns (status, body, replayed). The record and the action's writes commit
    together. A business refusal (e.g. 402) is stored and replayed too; any
    other error keeps nothing, so the key can be used again.
    """
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM idempotency_begin(%s, %s, %s, %s)", [seller_id, key, endpoint, request_hash])
            prior = cursor.fetchone()
            if prior is None:
                try:
                    status, body = action()
                except ApplicationError as refusal:
                    if not refusal.replayed_with_key:
                        raise
                    status, body = refusal.status_code, error_body(refusal.code, refusal.message, refusal.details)
                cursor.execute("SELECT idempotency_finish(%s, %s, %s, %s::jsonb)", [seller_id, key, status, json.dumps(body)])
                return status, body, False
    status, body = prior
    if status == 422:
        raise IdempotencyKeyReused()
    if status is None:
        raise IdempotencyInProgress()
    return status, json.loads(body), True


def purge_idempotency_records(*, older_than) -> int:
    """Deletes records created before `older_than`; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=older_than).delete()
    return deleted
