"""The admin's seller change form writes only the fields it edits (issue 10,
item 3). Before, it wrote back the balance and ledger_sequence it had read:
a sale committing in between made every such save a 500 (the deferred
balance trigger refused the stale balance at commit; without that trigger
the sale would have been lost)."""

import threading

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from ledger.selectors import reconcile
from sellers.models import Seller
from tests.helpers.system import backends_waiting_for_a_lock, raw_connection, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
# The page's commission-rates inline, left empty.
NO_RATES = {"commission_rates-TOTAL_FORMS": "0", "commission_rates-INITIAL_FORMS": "0"}


def test_renaming_a_seller_while_it_sells_keeps_the_sale(make_seller):
    seller = make_seller(name="Before", balance=100_000)
    admin = Client(raise_request_exception=False)
    admin.force_login(get_user_model().objects.create_superuser(username="boss", password="pw-for-tests-only"))
    responses = []
    with raw_connection() as sale, raw_connection(autocommit=True) as observer:
        # A sale holds the seller's row lock, uncommitted, while the admin saves.
        sale.execute(
            "SELECT * FROM sell_recharge(%s, '+989121234567', 'mci', 5000, NULL, NULL, NULL, %s)",
            [seller.pk, settings.BUSINESS_TIME_ZONE],
        )

        def rename():
            try:
                responses.append(
                    admin.post(
                        f"/admin/sellers/seller/{seller.pk}/change/",
                        {"name": "After", "user": seller.user_id, **NO_RATES},
                    )
                )
            finally:
                connection.close()  # the thread's own

        save = threading.Thread(target=rename)
        save.start()
        # The admin has read the seller (the balance before the sale) and waits for its row.
        wait_for(lambda: backends_waiting_for_a_lock(observer) == 1, what="the admin's save to wait for the row")
        sale.commit()
        save.join(timeout=60)
    assert responses[0].status_code == 302, responses[0].content[:500]
    stored = Seller.objects.get(pk=seller.pk)
    assert (stored.name, stored.balance) == ("After", 95_000)
    assert reconcile() == []
