from ledger.selectors import reconcile
from recharges.services import sell_recharge


def test_example_accounting(make_seller):
    seller = make_seller(balance=1_000_000)
    for _ in range(60):
        assert sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=5000).status_code == 201
    seller.refresh_from_db()
    assert seller.balance == 700_000
    assert reconcile() == []
