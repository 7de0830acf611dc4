from ledger import services as ledger
from ledger.services import SaleResult


def sell_recharge(
    *,
    seller_id: int,
    phone_number: str,
    amount: int,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> SaleResult:
    """Sells one recharge to an E.164 number: 201 with the recharge, or 402."""
    return ledger.debit_recharge(
        seller_id=seller_id,
        phone_e164=phone_number,
        amount=amount,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )


def sell_recharge_by_token(
    *, token_digest: str, phone_number: str, amount: int, idempotency_key: str | None, request_hash: str | None
) -> SaleResult | None:
    """sell_recharge by the seller holding this token, or None if the general
    path must answer (see ledger.services.debit_recharge_by_token)."""
    return ledger.debit_recharge_by_token(
        token_digest=token_digest,
        phone_e164=phone_number,
        amount=amount,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )


def sell_recharge_batch(
    *, seller_id: int, items: list[tuple[str, int]], idempotency_key: str | None = None, request_hash: str | None = None
) -> SaleResult:
    """Sells every (E.164 number, amount) item, all or nothing: 201 or 402."""
    return ledger.debit_recharge_batch(
        seller_id=seller_id, items=items, idempotency_key=idempotency_key, request_hash=request_hash
    )
