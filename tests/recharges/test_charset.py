"""Both sale paths read a body the same way whatever charset its Content-Type
names (hostile review, issue 10 item 10): the fast path leaves any charset but
UTF-8 to DRF, which decodes with it."""

import pytest
from django.core.cache import cache

from config.throttling import SellerRateThrottle
from tests.helpers.sellers import client_for

BODY = '{"phone_number": "۰۹۱۲۱۲۳۴۵۶۷", "amount": 5000}'.encode()  # Persian digits, UTF-8 bytes


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "UTF-8"])
def test_both_sale_paths_answer_alike_for_any_charset(make_seller, monkeypatch, charset):
    client = client_for(make_seller(balance=100_000).user)
    content_type = f"application/json; charset={charset}"
    fast = client.post("/api/v1/recharges/", data=BODY, content_type=content_type)
    monkeypatch.setattr(SellerRateThrottle, "THROTTLE_RATES", {"seller": "1000/second"})  # forces the DRF path
    cache.clear()
    general = client.post("/api/v1/recharges/", data=BODY, content_type=content_type)
    assert fast.status_code == general.status_code == (201 if charset == "UTF-8" else 400)
