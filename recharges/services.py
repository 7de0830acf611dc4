"""Selling recharges: one SQL statement per sale (recharges/sql/sell_recharge*.sql).

The statement replays a known Idempotency-Key, checks the operator, writes
the recharge `pending` and then debits through the ledger's SQL
(ledger_post_debit[s]), in autocommit, so the seller's row is locked for the
rest of that statement only; a refusal after the writes raises, undoing
them. Delivery to the operator happens after, in recharges.delivery.
"""

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from config.errors import ApplicationError, InvalidInput, error_body, violated_constraint
from idempotency.errors import IdempotencyKeyReused
from idempotency.selectors import stored_response
from ledger.errors import InsufficientBalance, LimitExceeded
from recharges import selectors
from recharges.errors import OperatorRefusal, OperatorUnavailable
from recharges.models import CommissionRate
from recharges.operators import detect_operator, refusal_errors
from sellers.services import lock_seller

RECHARGES = "recharges"
RECHARGE_BATCHES = "recharge-batches"
_ONE_PER_KEY = {
    "idempotency_key_unique_per_seller",
    "recharge_idempotency_key_unique_per_seller",
    "recharge_batch_idempotency_key_unique_per_seller",
}
# Refusals the sale statement raises once it has written (the DETAIL is the
# details, JSON), which undoes it: a debit refused, sale_over_number_limit,
# operator_float_reserve.
_RAISED_REFUSALS: dict[str, type[ApplicationError]] = {
    "insufficient_balance": InsufficientBalance,
    "limit_exceeded": LimitExceeded,
    "operator_unavailable": OperatorUnavailable,
}


@dataclass(frozen=True)
class SaleResult:
    """A sale's response: JSON text exactly as stored for replays, and whether
    it replays an earlier request with the same Idempotency-Key."""

    status_code: int
    body: str
    replayed: bool


@dataclass(frozen=True)
class _Sale:
    seller_id: int | None
    key: str | None
    endpoint: str
    request_hash: str | None


def sell_recharge(
    *,
    seller_id: int,
    phone_number: str,
    amount: int | None,
    operator: str | None = None,
    product: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> SaleResult:
    """Sells one recharge to an E.164 number, airtime of `amount` or the
    package `product` (whose amount `amount`, if given, must be): 201 with the
    pending recharge, or 403, 402 or 409 operator_unavailable (stored under
    the key like the 201);
    raises OperatorRefusal (an InvalidInput) when the operator does not take it,
    IdempotencyKeyReused for a reused key."""
    return _sold(
        "SELECT NULL, * FROM sell_recharge(%s, %s, %s, %s, %s, %s, %s, %s)",
        [
            seller_id,
            phone_number,
            operator or detect_operator(phone_number),
            amount,
            product,
            idempotency_key,
            request_hash,
            settings.BUSINESS_TIME_ZONE,
        ],
        _Sale(seller_id, idempotency_key, RECHARGES, request_hash),
    )


def validate_recharge(
    *, seller_id: int, phone_number: str, amount: int | None, operator: str | None = None, product: str | None = None
) -> SaleResult:
    """What sell_recharge would answer now, without selling: 200 with the
    operator, amount, commission rate and balance after the 201 would show,
    or the very refusal it would give (raised for a 400), no key stored. The
    sale itself runs, in a transaction rolled back, so every check is the
    sale's own and nothing is written."""
    with transaction.atomic():
        result = sell_recharge(
            seller_id=seller_id, phone_number=phone_number, amount=amount, operator=operator, product=product
        )
        transaction.set_rollback(True)
    return _validated(result, ("operator", "amount", "commission_rate", "balance_after"))


def validate_recharge_batch(
    *, seller_id: int, items: Sequence[tuple[str, int | None, str | None, str | None]]
) -> SaleResult:
    """validate_recharge for sell_recharge_batch: its count, total and balance after."""
    with transaction.atomic():
        result = sell_recharge_batch(seller_id=seller_id, items=items)
        transaction.set_rollback(True)
    return _validated(result, ("count", "total_amount", "balance_after"))


def _validated(result: SaleResult, fields: tuple[str, ...]) -> SaleResult:
    if result.status_code != 201:
        return result
    body = json.loads(result.body)
    return SaleResult(
        status_code=200,
        body=json.dumps({"valid": True, **{field: body[field] for field in fields}}, separators=(",", ":")),
        replayed=False,
    )


def sell_recharge_by_token(
    *,
    token_digest: str,
    phone_number: str,
    amount: int,
    operator: str | None,
    idempotency_key: str | None,
    request_hash: str | None,
) -> SaleResult | None:
    """sell_recharge by the seller holding this valid API token, found in the
    same statement (one round trip for the hottest path). None when the
    general path must answer: the token is not a valid seller's
    (authentication there gives the error)."""
    return _sell(
        "SELECT * FROM sell_recharge_by_token(%s, %s, %s, %s, NULL, %s, %s, %s)",
        [
            token_digest,
            phone_number,
            operator or detect_operator(phone_number),
            amount,
            idempotency_key,
            request_hash,
            settings.BUSINESS_TIME_ZONE,
        ],
        _Sale(None, idempotency_key, RECHARGES, request_hash),
    )


def sell_recharge_batch(
    *,
    seller_id: int,
    items: Sequence[
        tuple[str, int | None] | tuple[str, int | None, str | None] | tuple[str, int | None, str | None, str | None]
    ],
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> SaleResult:
    """Sells every (E.164 number, amount[, operator[, product]]) item, all or
    nothing: 201, or the errors of sell_recharge (400 details per item)."""
    phones = [item[0] for item in items]
    amounts = [item[1] for item in items]
    operators = [(item[2] if len(item) > 2 else None) or detect_operator(item[0]) for item in items]
    products = [item[3] if len(item) > 3 else None for item in items]
    return _sold(
        "SELECT NULL, * FROM sell_recharge_batch(%s, %s, %s, %s, %s, %s, %s, %s)",
        [seller_id, phones, operators, amounts, products, idempotency_key, request_hash, settings.BUSINESS_TIME_ZONE],
        _Sale(seller_id, idempotency_key, RECHARGE_BATCHES, request_hash),
    )


def _sold(sql: str, params: list, sale: _Sale) -> SaleResult:
    """_sell for a known seller, whose sale always has an answer."""
    result = _sell(sql, params, sale)
    assert result is not None  # only a sale by token can be left to the general path
    return result


def _sell(sql: str, params: list, sale: _Sale) -> SaleResult | None:
    # In autocommit (views never open a transaction) the statement is its own
    # transaction: the seller row stays locked for that statement only.
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id is not None:
        # The request's id as a transaction-local setting, set first in the
        # same statement (the sale waits on it): the delivery job the sale
        # queues carries it (callbacks/sql/job_queue.sql).
        # sql is one of the constant sale statements above.
        sql = f"SELECT sale.* FROM set_config('app.request_id', %s, true) AS request(id), LATERAL ({sql} WHERE request.id IS NOT NULL) AS sale"  # noqa: S608
        params = [request_id, *params]
    # Inside a transaction (a dry run, a test), a refusal the statement raises
    # undoes it alone, to a savepoint, and the caller's next query works.
    undone_alone = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with undone_alone, _sale_cursor() as cursor:
            cursor.execute(sql, params)
            _, status_code, body, replayed = cursor.fetchone()
    except IntegrityError as error:
        constraint = violated_constraint(error)
        if constraint in _RAISED_REFUSALS:  # the refusal undid the sale
            if sale.seller_id is None:  # by token: the general path finds the seller and refuses
                return None
            refusal = json.loads(error.__cause__.diag.message_detail)  # type: ignore[union-attr]
            return _refuse(_RAISED_REFUSALS[constraint](details=refusal), sale)
        if constraint not in _ONE_PER_KEY:
            raise
        # A concurrent request with the same key committed first: replay it.
        return _replay(sale)
    if status_code is None:
        return None
    if status_code == 422:
        raise IdempotencyKeyReused()
    if replayed or status_code == 201:
        return SaleResult(status_code=status_code, body=body, replayed=replayed)
    # The only refusal the statement returns rather than raises: the
    # operator's 400 (operator_refusal), before anything is written.
    refusal = json.loads(body)
    raise OperatorRefusal(refusal, details=_validation_details(refusal))


class _PreparedCursor(psycopg.Cursor):
    """Binds the parameters on the server and prepares the statement on its
    connection at first use: PostgreSQL then neither parses nor plans it
    again, and psycopg does not quote the parameters into the text."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def _sale_cursor():
    """Django's cursor (its errors, its query log) around a _PreparedCursor,
    for the sale statements; the ordinary cursor behind PgBouncer in
    transaction mode (DB_TRANSACTION_POOLING), where a statement prepared in
    one transaction is unknown to the server connection the next one gets."""
    if settings.DB_TRANSACTION_POOLING:
        return connection.cursor()
    connection.ensure_connection()
    cursor = _PreparedCursor(connection.connection)
    # The stubs type these as taking Django's own wrapper; they take a DB-API cursor.
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    return wrap(cursor)  # type: ignore[arg-type]


def _validation_details(refusal: dict) -> dict:
    if "items" in refusal:
        return {"items": {str(item["index"]): refusal_errors(item) for item in refusal["items"]}}
    return refusal_errors(refusal)


def _refuse(refusal: ApplicationError, sale: _Sale) -> SaleResult | None:
    """The refusal (402, 403 or 409), stored under the key first so that a
    repeat gets the same bytes (a refused sale left nothing written, so
    storing it on its own is safe)."""
    body = error_body(refusal.code, refusal.message, refusal.details)
    if sale.key is None:
        return SaleResult(status_code=refusal.status_code, body=json.dumps(body, separators=(",", ":")), replayed=False)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT idempotency_store(%s, %s, %s, %s, %s, %s::jsonb), %s::jsonb::text",
                [
                    sale.seller_id,
                    sale.key,
                    sale.endpoint,
                    sale.request_hash,
                    refusal.status_code,
                    json.dumps(body),
                    json.dumps(body),
                ],
            )
            (_, stored_body) = cursor.fetchone()
    except IntegrityError as error:
        if violated_constraint(error) not in _ONE_PER_KEY:
            raise
        return _replay(sale)
    return SaleResult(status_code=refusal.status_code, body=stored_body, replayed=False)


def _replay(sale: _Sale) -> SaleResult | None:
    if sale.seller_id is None:  # by token: the general path finds the seller and replays
        return None
    # Only a request with a key can meet a stored response.
    assert sale.key is not None and sale.request_hash is not None
    stored = stored_response(
        seller_id=sale.seller_id, key=sale.key, endpoint=sale.endpoint, request_hash=sale.request_hash
    )
    if stored is None:  # the key outlived its purged record: it named another sale
        raise IdempotencyKeyReused()
    return SaleResult(status_code=stored.status_code, body=stored.body, replayed=True)


def set_commission_rates(*, seller_id: int, rates: dict[str, int]) -> dict[str, int]:
    """Replaces the seller's commission rates (basis points by operator code;
    an operator left out earns 0) and returns every operator's rate. Raises
    InvalidInput, writing nothing, for an unknown operator; 404 for an
    unknown seller.

    The seller's row is locked first, with the lock a sale's debit takes:
    concurrent PUTs apply one after the other, and a sale sees the whole old
    set or the whole new one (a batch reads its rates after its debit; a
    single sale reads its one rate in one statement)."""
    with transaction.atomic():
        lock_seller(seller_id=seller_id)
        with connection.cursor() as cursor:
            # FOR KEY SHARE, as the inserts' foreign keys would: an operator found here stays.
            cursor.execute("SELECT code FROM recharges_operator WHERE code = ANY(%s) FOR KEY SHARE", [list(rates)])
            known = {code for (code,) in cursor.fetchall()}
        unknown = [code for code in rates if code not in known]
        if unknown:
            errors = {code: refusal_errors({"operator": code, "problem": "unknown"})["operator"] for code in unknown}
            raise InvalidInput(details=errors)
        CommissionRate.objects.filter(seller_id=seller_id).exclude(operator_id__in=list(rates)).delete()
        CommissionRate.objects.bulk_create(
            [CommissionRate(seller_id=seller_id, operator_id=code, rate=rate) for code, rate in rates.items()],
            update_conflicts=True,
            unique_fields=["seller", "operator"],
            update_fields=["rate"],
        )
        return selectors.commission_rates(seller_id=seller_id)
