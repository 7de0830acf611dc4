import time, os
import psutil
import pytest
from django.db import transaction
from callbacks.services import deliver_due_events, record_event, set_callback_url
from tests.callbacks.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)
N = 3000

def test_measure(make_seller):
    seller = make_seller()
    with Receiver() as receiver:
        set_callback_url(seller_id=seller.pk, url=receiver.url())
        t0 = time.perf_counter()
        with transaction.atomic():
            for i in range(N):
                record_event(seller_id=seller.pk, event_type="recharge.succeeded", data={"id": i, "amount": 5000, "phone_number": "+989121234567", "status": "successful"})
        t1 = time.perf_counter()
        c0 = time.process_time()
        n = 0
        while made := deliver_due_events():
            n += made
        t2 = time.perf_counter()
        c1 = time.process_time()
    from callbacks.models import CallbackEvent
    from collections import Counter
    print(Counter(CallbackEvent.objects.exclude(last_error='').values_list('last_error', flat=True)))
    assert n == N and len(receiver.received) == N
    print(f"\nrecord_event {(t1-t0)/N*1e3:.3f} ms each; deliver {n/(t2-t1):.0f}/s, process cpu {((c1-c0)/n)*1e3:.2f} ms per delivery (deliverer + in-process receiver)")
