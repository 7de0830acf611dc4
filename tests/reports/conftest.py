import pytest
from django.contrib.auth.models import Permission

from tests.conftest import client_for


@pytest.fixture
def ledger_staff_client(staff_user):
    """Staff with the permission the reports and exports need."""
    staff_user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    return client_for(staff_user)
