"""Data packages, operators' denominations and a seller's books, for the
v1.2 API tests: rows written as staff write them in the admin (the models),
and the money read back from the ledger itself."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Sum

from ledger.models import LedgerEntry
from recharges.models import Operator, Product
from sellers.models import Seller

# Numbers libphonenumber gives to each operator (tests/recharges/test_operators.py).
MCI_PHONE, IRANCELL_PHONE = "09121234567", "09351234567"


def make_product(code: str, operator: str = "mci", amount: int = 50_000, enabled: bool = True) -> Product:
    return Product.objects.create(
        code=code,
        operator_id=operator,
        name=f"{code} package",
        name_fa=f"بسته {code}",
        amount=amount,
        data_mb=1024,
        validity_days=7,
        enabled=enabled,
    )


def set_denominations(operator: str, denominations: list[int] | None) -> None:
    Operator.objects.filter(code=operator).update(denominations=denominations)


def books(seller: Seller) -> tuple[int, int, int]:
    """(balance, number of ledger entries, sum of their amounts) of the seller."""
    seller.refresh_from_db()
    entries = LedgerEntry.objects.filter(seller=seller)
    return seller.balance, entries.count(), entries.aggregate(total=Sum("amount"))["total"] or 0


def staff_holding(*permissions: str):
    """A staff user (not a superuser) holding exactly these "app_label.codename" permissions."""
    user = get_user_model().objects.create_user(username=f"staff-{'-'.join(permissions) or 'none'}", is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user
