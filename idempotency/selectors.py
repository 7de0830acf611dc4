from dataclasses import dataclass

from django.db import connection

from idempotency.errors import IdempotencyKeyReused


@dataclass(frozen=True)
class StoredResponse:
    """The first response given under an Idempotency-Key, as JSON text."""

    status_code: int
    body: str


# Whose keys a lookup searches: a seller's own, or a staff user's for a
# seller (or for no seller: requests that create one). Each matches one of
# the partial unique indexes of IdempotencyRecord.
_SCOPES = {
    (True, False): "seller_id = %(seller_id)s AND staff_user_id IS NULL",
    (True, True): "seller_id = %(seller_id)s AND staff_user_id = %(staff_user_id)s",
    (False, True): "seller_id IS NULL AND staff_user_id = %(staff_user_id)s",
}


def stored_response(
    *, seller_id: int | None, key: str, endpoint: str, request_hash: str, staff_user_id: int | None = None
) -> StoredResponse | None:
    """The response to replay for this key, None if the key is new; raises
    IdempotencyKeyReused if the key was used for another endpoint or body.

    Without `staff_user_id` the key is the seller's own; with it, that staff
    user's for the seller (or for no seller)."""
    scope = _SCOPES[(seller_id is not None, staff_user_id is not None)]
    with connection.cursor() as cursor:
        columns = "endpoint, request_hash, status_code, response::text"
        # scope is one of _SCOPES' constant clauses; every value is a parameter.
        sql = f"SELECT {columns} FROM idempotency_idempotencyrecord WHERE {scope} AND key = %(key)s"  # noqa: S608
        cursor.execute(sql, {"seller_id": seller_id, "staff_user_id": staff_user_id, "key": key})
        row = cursor.fetchone()
    if row is None:
        return None
    if (row[0], row[1]) != (endpoint, request_hash):
        raise IdempotencyKeyReused()
    return StoredResponse(status_code=row[2], body=row[3])
