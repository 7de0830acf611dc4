from dataclasses import dataclass

from django.db import connection

from idempotency.errors import IdempotencyKeyReused


@dataclass(frozen=True)
class StoredResponse:
    """The first response given under an Idempotency-Key, as JSON text."""

    status_code: int
    body: str


def stored_response(*, seller_id: int, key: str, endpoint: str, request_hash: str) -> StoredResponse | None:
    """The response to replay for this key, None if the key is new; raises
    IdempotencyKeyReused if the key was used for another endpoint or body."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT endpoint, request_hash, status_code, response::text FROM idempotency_idempotencyrecord"
            " WHERE seller_id = %s AND key = %s",
            [seller_id, key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if (row[0], row[1]) != (endpoint, request_hash):
        raise IdempotencyKeyReused()
    return StoredResponse(status_code=row[2], body=row[3])
