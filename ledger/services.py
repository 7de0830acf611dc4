"""The ledger: the only code that changes a seller's balance.

Design rules (each also enforced by PostgreSQL, see migration 0003_database_rules):

1. `Seller.balance >= 0` (CHECK) and, at every commit, it equals the
   `balance_after` of the seller's last ledger entry (deferred trigger).
2. Entries of a seller are numbered 1, 2, 3, ... under the seller row lock and
   each `balance_after` is the previous one plus `amount` (trigger).
3. Each source (credit request, recharge, adjustment) posts at most once
   (UNIQUE per source), so a re-saved or re-approved request cannot credit twice.
4. Entries are never updated or deleted (trigger; the model refuses too).

Credits and adjustments lock the seller row (`select_for_update`) inside the
caller's durable transaction; locks are taken source first, then seller.
Recharges run as one SQL statement (`ledger_sell_recharge[_batch]`) in
autocommit: a conditional `UPDATE ... WHERE balance >= amount` takes the row
lock, then the recharge, its entry and the Idempotency-Key's stored response
are written.
No Python lock protects money: the service runs in many processes.
"""

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from config.errors import violated_constraint
from idempotency.errors import IdempotencyKeyReused
from idempotency.selectors import stored_response
from ledger.errors import AlreadyPosted, BalanceLimitExceeded, InsufficientBalance
from ledger.models import BalanceAdjustment, LedgerEntry
from sellers.models import Seller

# Balances and running balances are bigint columns.
MAX_BALANCE = 2**63 - 1
_ONE_PER_KEY = {"idempotency_key_unique_per_seller", "recharge_idempotency_key_unique_per_seller"}
_ONE_PER_SOURCE = {
    "ledger_entry_one_per_credit_request",
    "ledger_entry_one_per_recharge",
    "ledger_entry_one_per_adjustment",
}


@dataclass(frozen=True)
class SaleResult:
    """What a recharge statement answered: the response to give (JSON text,
    exactly as stored for replays) and whether it is the replay of an earlier
    request with the same Idempotency-Key."""

    status_code: int
    body: str
    replayed: bool


def _post(*, seller_id: int, amount: int, kind: str, **source) -> LedgerEntry:
    """Moves `amount` on the seller's balance and appends its entry.

    Must run inside the caller's transaction; the seller row lock is its first
    lock on that seller and is held until commit.
    """
    seller = Seller.objects.select_for_update().only("balance", "ledger_sequence").get(pk=seller_id)
    balance_after = seller.balance + amount
    if balance_after < 0:
        raise InsufficientBalance(details={"balance": seller.balance, "amount": -amount})
    if balance_after > MAX_BALANCE:  # else PostgreSQL's "bigint out of range", a 500
        raise BalanceLimitExceeded(details={"balance": seller.balance, "amount": amount, "limit": MAX_BALANCE})
    sequence = seller.ledger_sequence + 1
    Seller.objects.filter(pk=seller_id).update(balance=balance_after, ledger_sequence=sequence)
    try:
        with transaction.atomic():
            return LedgerEntry.objects.create(
                seller_id=seller_id, sequence=sequence, kind=kind, amount=amount, balance_after=balance_after, **source
            )
    except IntegrityError as error:
        if violated_constraint(error) in _ONE_PER_SOURCE:
            raise AlreadyPosted() from error
        raise


def post_credit(*, credit_request) -> LedgerEntry:
    """Credits an approved credit request; call inside the approval's transaction."""
    return _post(
        seller_id=credit_request.seller_id,
        amount=credit_request.amount,
        kind=LedgerEntry.Kind.CREDIT,
        credit_request=credit_request,
    )


def adjust_balance(*, seller_id: int, amount: int, reason: str, created_by) -> LedgerEntry:
    """Applies a staff correction; a negative one may not overdraw the balance.

    Not durable: it may run inside the transaction that records its
    Idempotency-Key (idempotency.services.run_idempotent), and nowhere else.
    """
    with transaction.atomic():
        adjustment = BalanceAdjustment.objects.create(
            seller_id=seller_id, amount=amount, reason=reason, created_by=created_by
        )
        return _post(seller_id=seller_id, amount=amount, kind=LedgerEntry.Kind.ADJUSTMENT, adjustment=adjustment)


def debit_recharge(
    *, seller_id: int, phone_e164: str, amount: int, idempotency_key: str | None, request_hash: str | None
) -> SaleResult:
    """Debits one recharge, or refuses it (402), in one atomic statement."""
    return _run_sale(
        "SELECT * FROM ledger_sell_recharge(%s, %s, %s, %s, %s)",
        [seller_id, phone_e164, amount, idempotency_key, request_hash],
        key=_Key(seller_id, idempotency_key, "recharges", request_hash),
    )


def debit_recharge_by_token(
    *, token_digest: str, phone_e164: str, amount: int, idempotency_key: str | None, request_hash: str | None
) -> SaleResult | None:
    """debit_recharge for the seller whose valid API token has this digest,
    found in the same statement (one round trip for the hottest path).

    None when the general path must answer instead: the token is not a valid
    seller's (authentication there gives the error), or a concurrent request
    with the same key committed first (the general path replays it).
    """
    result = _execute_sale(
        "SELECT * FROM ledger_sell_recharge_by_token(%s, %s, %s, %s, %s)",
        [token_digest, phone_e164, amount, idempotency_key, request_hash],
    )
    return None if result is None or result.status_code is None else result


def debit_recharge_batch(
    *, seller_id: int, items: list[tuple[str, int]], idempotency_key: str | None, request_hash: str | None
) -> SaleResult:
    """Debits all items with one balance update, or none of them (402)."""
    phones = [phone for phone, _ in items]
    amounts = [amount for _, amount in items]
    return _run_sale(
        "SELECT * FROM ledger_sell_recharge_batch(%s, %s, %s, %s, %s)",
        [seller_id, phones, amounts, idempotency_key, request_hash],
        key=_Key(seller_id, idempotency_key, "recharge-batches", request_hash),
    )


@dataclass(frozen=True)
class _Key:
    seller_id: int
    key: str | None
    endpoint: str
    request_hash: str | None


def _run_sale(sql: str, params: list, key: _Key) -> SaleResult:
    result = _execute_sale(sql, params)
    if result is not None:
        return result
    # A concurrent request with the same key committed first.
    stored = stored_response(seller_id=key.seller_id, key=key.key, endpoint=key.endpoint, request_hash=key.request_hash)
    if stored is None:  # the key outlived its purged record: it named another recharge
        raise IdempotencyKeyReused()
    return SaleResult(status_code=stored.status_code, body=stored.body, replayed=True)


def _execute_sale(sql: str, params: list) -> SaleResult | None:
    """Runs one sale statement; None if a concurrent request with the same
    Idempotency-Key committed first (this statement then rolled back)."""
    # Called in autocommit (views never open a transaction), the statement is
    # its own transaction: the seller row stays locked for that statement only.
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            status_code, body, replayed = cursor.fetchone()
    except IntegrityError as error:
        if violated_constraint(error) not in _ONE_PER_KEY:
            raise
        return None
    if status_code == 422:
        raise IdempotencyKeyReused()
    return SaleResult(status_code=status_code, body=body, replayed=replayed)
