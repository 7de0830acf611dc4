import pytest
from django.contrib.auth.models import Permission

from tests.helpers.ledger_entries import entry_at, utc
from tests.helpers.sellers import client_for


@pytest.fixture
def ledger_staff_client(staff_user):
    """Staff with the permission the reports and exports need."""
    staff_user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    return client_for(staff_user)


@pytest.fixture
def history(make_seller):
    """Seller A's entries around Tehran midnights (20:30 UTC), and seller B's."""
    a, b = make_seller(name="Shop A"), make_seller(name="Shop B")
    entry_at(a.pk, "credit", 100_000, utc(2026, 1, 9, 10, 0))  # Jan 9: before the range
    entry_at(a.pk, "recharge", -5_000, utc(2026, 1, 9, 20, 29, 59))  # Jan 9 23:59:59 Tehran
    entry_at(a.pk, "recharge", -7_000, utc(2026, 1, 9, 20, 30))  # Jan 10 00:00 Tehran
    entry_at(a.pk, "adjustment", -1_000, utc(2026, 1, 10, 8, 0))
    entry_at(a.pk, "adjustment", 300, utc(2026, 1, 10, 9, 0))
    entry_at(a.pk, "credit", 50_000, utc(2026, 1, 12, 20, 29))  # Jan 12 23:59 Tehran
    entry_at(a.pk, "recharge", -2_000, utc(2026, 1, 14, 1, 0))  # after the range
    entry_at(b.pk, "credit", 40_000, utc(2026, 1, 10, 12, 0))
    entry_at(b.pk, "recharge", -4_000, utc(2026, 1, 10, 13, 0))
    return a, b
