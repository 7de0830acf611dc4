from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from knox.models import AuthToken

from config.errors import InvalidInput, violated_constraint
from sellers.models import Seller


def create_seller(*, name: str, username: str) -> tuple[Seller, str]:
    """Creates the seller's user, the seller and its API token together.

    Returns the seller and the token key. The user has no usable password: a
    seller works through the API, never the admin.
    """
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=username)
            seller = Seller.objects.create(user=user, name=name)
            token = issue_api_token(user=user)
    except IntegrityError as error:
        # The second: the same name but for case or width (sellers migration 0003).
        if violated_constraint(error) in {"auth_user_username_key", "auth_user_username_folded_unique"}:
            raise InvalidInput(details={"username": ["A user with this username already exists."]}) from error
        raise
    return seller, token


def issue_api_token(*, user: AbstractBaseUser) -> str:
    """A new API token for the user. Only its SHA-512 digest is stored: the
    key returned here is shown once and cannot be recovered."""
    _, key = AuthToken.objects.create(user=user)
    return str(key)


def revoke_api_tokens(*, user: AbstractBaseUser) -> int:
    """Revokes every API token of the user; returns how many."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return int(deleted)


def rotate_api_token(*, user: AbstractBaseUser) -> str:
    """Revokes the user's tokens and issues a new one, atomically."""
    with transaction.atomic():
        revoke_api_tokens(user=user)
        return issue_api_token(user=user)


def lock_seller(*, seller_id: int) -> None:
    """Locks the seller's row (FOR NO KEY UPDATE, the lock a sale's debit
    takes) until the caller's transaction ends; 404 for an unknown seller."""
    get_object_or_404(Seller.objects.select_for_update(no_key=True).only("pk"), pk=seller_id)


def set_limits(
    *, seller_id: int, max_recharge_amount: int | None, daily_amount: int | None, number_hourly_count: int | None
) -> None:
    """Replaces the seller's limits (None: no limit). One statement: the next
    sale reads them under the row lock its debit takes, so it sees the old
    set or the new one, never a mix. The day's amount already used stays."""
    Seller.objects.filter(pk=seller_id).update(
        max_recharge_amount=max_recharge_amount, daily_amount=daily_amount, number_hourly_count=number_hourly_count
    )


def set_low_balance_alert(*, seller_id: int, low_balance: int | None) -> None:
    """Sets the balance below which a debit sends a balance.low event (None:
    no alert). Setting it sends nothing: only a debit crossing it does
    (callbacks/sql/seller_balance_low.sql)."""
    Seller.objects.filter(pk=seller_id).update(low_balance_threshold=low_balance)
