import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction

from ledger.models import LedgerEntry
from recharges.services import sell_recharge

ROLE = "recharge_app_test"


def as_app_role(statement: str, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {ROLE}")
        cursor.execute(statement, params)


def test_the_application_role_cannot_rewrite_the_ledger(make_seller):
    seller = make_seller(balance=10_000)
    call_command("create_app_role", ROLE)
    for statement in [
        "UPDATE ledger_ledgerentry SET amount = 1",
        "DELETE FROM ledger_ledgerentry",
        "TRUNCATE ledger_ledgerentry",
    ]:
        with pytest.raises(ProgrammingError, match="permission denied"):
            as_app_role(statement)
    assert LedgerEntry.objects.filter(seller=seller).count() == 1


def test_the_application_role_can_still_sell(make_seller):
    seller = make_seller(balance=10_000)
    call_command("create_app_role", ROLE)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {ROLE}")
        result = sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=4_000)
    assert result.status_code == 201
    seller.refresh_from_db()
    assert seller.balance == 6_000
