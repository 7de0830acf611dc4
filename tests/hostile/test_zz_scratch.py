import collections, pytest
from hypothesis import settings, HealthCheck
from hypothesis.stateful import run_state_machine_as_test
from tests.hostile import test_ledger_state_machine as m
from ledger import services as ledger_services

CALLS = collections.Counter()

class Counting(m.LedgerMachine):
    def sale(self, endpoint, seller, key, body, total, count, service, **kw):
        stored = self.keys.get((seller, key)) if key else None
        CALLS["sale-replay-or-422" if stored else ("sale-402" if total > self.balance[seller] else "sale-201")] += 1
        return super().sale(endpoint, seller, key, body, total, count, service, **kw)
    def refused(self, error, action, **kw):
        CALLS[error.__name__] += 1
        return super().refused(error, action, **kw)

S = settings(max_examples=30, stateful_step_count=20, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

@pytest.mark.django_db(transaction=True)
def test_counts():
    run_state_machine_as_test(Counting, settings=S)
    print(dict(CALLS))

@pytest.mark.django_db(transaction=True)
def test_detects_double_credit(monkeypatch):
    real = ledger_services.post_credit
    def buggy(*, credit_request):
        entry = real(credit_request=credit_request)
        if credit_request.amount % 7 == 0:
            from sellers.models import Seller
            from django.db.models import F
            Seller.objects.filter(pk=credit_request.seller_id).update(balance=F("balance") + 1)
        return entry
    monkeypatch.setattr(ledger_services, "post_credit", buggy)
    with pytest.raises(Exception) as info:
        run_state_machine_as_test(m.LedgerMachine, settings=S)
    print("DETECTED:", type(info.value).__name__, str(info.value)[:300])

class Counting2(Counting):
    def approve(self, credit_request_id):
        CALLS["approve-" + self.requests[credit_request_id][2]] += 1
        return super().approve(credit_request_id)
    def request_credit(self, index, amount):
        CALLS["request"] += 1
        return super().request_credit(index, amount)

@pytest.mark.django_db(transaction=True)
def test_counts2():
    CALLS.clear()
    run_state_machine_as_test(Counting2, settings=S)
    print(dict(CALLS))

@pytest.mark.django_db(transaction=True)
def test_counts3(monkeypatch):
    CALLS.clear()
    real_a, real_r = m.approve_credit_request, m.request_credit
    def a(**kw):
        CALLS["approve"] += 1
        return real_a(**kw)
    def r(**kw):
        CALLS["request"] += 1
        return real_r(**kw)
    monkeypatch.setattr(m, "approve_credit_request", a)
    monkeypatch.setattr(m, "request_credit", r)
    run_state_machine_as_test(m.LedgerMachine, settings=S)
    print(dict(CALLS))

@pytest.mark.django_db(transaction=True)
def test_counts4(monkeypatch):
    from credits.models import CreditRequest
    import credits.services as cs
    real_a = m.approve_credit_request
    def a(**kw):
        before = CreditRequest.objects.get(pk=kw["credit_request_id"]).status
        print("APPROVE-CALL", before, flush=True)
        res = real_a(**kw)
        print("APPROVE", before, "->", res.status, cs.ledger.post_credit)
        return res
    monkeypatch.setattr(m, "approve_credit_request", a)
    run_state_machine_as_test(m.LedgerMachine, settings=S)
