from recharges.models import CommissionRate, Operator, Product

PASSWORD = "portal-pass-4821"


def with_password(user):
    """Sets the portal password the way staff do in the admin (a hashed password)."""
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


# MCI's airtime amounts and two packages, as staff would set them in the admin.
MCI_DENOMINATIONS = [10_000, 20_000, 50_000, 100_000, 200_000]
PACKAGE = "mci-1gb-30d"
PACKAGE_AMOUNT = 50_000


def mci_catalogue() -> None:
    """Fixed amounts for MCI, packages for MCI and Irancell, one disabled."""
    Operator.objects.filter(code="mci").update(name_fa="همراه اول", denominations=MCI_DENOMINATIONS)
    Operator.objects.filter(code="irancell").update(name_fa="ایرانسل")
    for code, operator, name, name_fa, amount, data_mb, enabled in [
        (PACKAGE, "mci", "1 GB, 30 days", "۱ گیگابایت، ۳۰ روزه", PACKAGE_AMOUNT, 1024, True),
        ("mci-10gb-30d", "mci", "10 GB, 30 days", "۱۰ گیگابایت، ۳۰ روزه", 300_000, 10240, True),
        ("mci-old", "mci", "Retired package", "بستهٔ قدیمی", 20_000, 500, False),
        ("irancell-2gb-7d", "irancell", "2 GB, 7 days", "۲ گیگابایت، ۷ روزه", 70_000, 2048, True),
    ]:
        Product.objects.create(
            code=code,
            operator_id=operator,
            name=name,
            name_fa=name_fa,
            amount=amount,
            data_mb=data_mb,
            validity_days=30,
            enabled=enabled,
        )


def set_commission_rates(seller, rates: dict[str, int]) -> None:
    """Rates in basis points per operator, as staff set them."""
    for operator, rate in rates.items():
        CommissionRate.objects.update_or_create(seller=seller, operator_id=operator, defaults={"rate": rate})
