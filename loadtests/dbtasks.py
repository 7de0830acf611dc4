"""Django-side helpers for loadtests/server.py, run as a child process on the
database in DATABASE_URL; each prints one JSON document.

    python -m loadtests.dbtasks seed <sellers> <credit> [<commission rate, basis points>]
    python -m loadtests.dbtasks facts
"""

import json
import sys
import uuid


def seed(sellers: int, credit: int, commission_rate: int = 0) -> dict:
    """A staff user and funded sellers, through the services; each seller
    earns `commission_rate` on every operator (none at 0)."""
    from django.contrib.auth import get_user_model

    from credits.services import approve_credit_request, request_credit
    from recharges.models import CommissionRate, Operator
    from sellers.services import create_seller, issue_api_token

    run = uuid.uuid4().hex[:8]
    staff = get_user_model().objects.create_user(username=f"chaos-staff-{run}", is_staff=True, is_superuser=True)
    seeded = []
    for number in range(1, sellers + 1):
        seller, token = create_seller(name=f"Chaos shop {number}", username=f"chaos-{run}-{number}")
        if credit:
            credit_request = request_credit(seller_id=seller.pk, amount=credit)
            approve_credit_request(credit_request_id=credit_request.pk, decided_by=staff)
        if commission_rate:
            CommissionRate.objects.bulk_create(
                CommissionRate(seller=seller, operator=operator, rate=commission_rate)
                for operator in Operator.objects.all()
            )
        seeded.append({"seller_id": seller.pk, "token": token})
    return {"staff_token": issue_api_token(user=staff), "sellers": seeded}


def facts() -> dict:
    """Every row the money checks compare with what clients saw, from one
    snapshot: a delivery worker that refunds meanwhile cannot make the sums
    disagree with the rows."""
    from django.db import connection, transaction

    from ledger.selectors import reconcile

    def rows(sql: str) -> list:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [list(row) for row in cursor.fetchall()]

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _facts(rows, reconcile)


def _facts(rows, reconcile) -> dict:
    return {
        "sellers": rows("SELECT id, balance FROM sellers_seller ORDER BY id"),
        "recharges": rows("SELECT id, seller_id, amount, idempotency_key FROM recharges_recharge ORDER BY id"),
        "adjustments": rows("SELECT id, seller_id, amount, reason FROM ledger_balanceadjustment ORDER BY id"),
        "credit_requests": rows("SELECT id, seller_id, amount, status FROM credits_creditrequest ORDER BY id"),
        "entries_per_recharge": rows(
            "SELECT r.id, count(e.id) FROM recharges_recharge r"
            " LEFT JOIN ledger_ledgerentry e ON e.recharge_id = r.id AND e.kind = 'recharge' GROUP BY r.id"
        ),
        "recharge_states": rows(
            "SELECT id, seller_id, amount, status, failure_code, operator_reference, topup_reference::text"
            " FROM recharges_recharge ORDER BY id"
        ),
        "refunds": rows("SELECT recharge_id, amount FROM ledger_ledgerentry WHERE kind = 'refund'"),
        "commissions": rows("SELECT recharge_id, amount FROM ledger_ledgerentry WHERE kind = 'commission'"),
        # What each successful recharge earned at the rate fixed at its sale (none at rate 0).
        "commissions_earned": rows(
            "SELECT id, commission_of(amount, commission_rate) FROM recharges_recharge"
            " WHERE status = 'successful' AND commission_of(amount, commission_rate) > 0"
        ),
        "callback_events": rows(
            "SELECT id::text, type, (body::jsonb -> 'data' ->> 'id')::bigint FROM callbacks_callbackevent"
        ),
        "entries_per_adjustment": rows(
            "SELECT a.id, count(e.id) FROM ledger_balanceadjustment a"
            " LEFT JOIN ledger_ledgerentry e ON e.adjustment_id = a.id GROUP BY a.id"
        ),
        "entries_per_credit_request": rows(
            "SELECT c.id, count(e.id) FROM credits_creditrequest c"
            " LEFT JOIN ledger_ledgerentry e ON e.credit_request_id = c.id GROUP BY c.id"
        ),
        "reconcile": reconcile(),
    }


def main(argv: list[str]) -> None:
    import django

    django.setup()
    if argv[0] == "seed":
        result = seed(int(argv[1]), int(argv[2]), *(int(rate) for rate in argv[3:4]))
    elif argv[0] == "facts":
        result = facts()
    else:
        raise SystemExit(f"unknown task {argv[0]!r}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
