"""A Hypothesis state machine over the ledger's services.

Random sequences of credit requests, approvals, rejections, recharges (single
and batch, with and without Idempotency-Keys) and staff adjustments for 2-3
sellers, against an in-memory model of what each balance must be. After
every step, for every seller: balance == model, balance >= 0, sum of ledger
amounts == balance, sequences 1..n with an unbroken balance_after chain,
as many entries as money moves, and reconcile() == []. A refused operation
(402, InsufficientBalance, AlreadyDecided, IdempotencyKeyReused) changes no
money table.

Every service call commits for real (`transaction=True`), so PostgreSQL's
deferred balance == ledger trigger judges each commit; each example starts
from empty tables (flushed in teardown). Deterministic and bounded:
`derandomize=True`, 30 examples of up to 20 steps.
"""

import itertools
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from credits.errors import AlreadyDecided
from credits.models import CreditRequest
from credits.services import approve_credit_request, reject_credit_request, request_credit
from idempotency.errors import IdempotencyKeyReused
from idempotency.models import IdempotencyRecord
from idempotency.services import request_hash
from ledger.errors import InsufficientBalance
from ledger.models import BalanceAdjustment, LedgerEntry
from ledger.selectors import reconcile
from ledger.services import adjust_balance
from recharges.models import Recharge, RechargeBatch
from recharges.services import sell_recharge, sell_recharge_batch
from sellers.models import Seller
from sellers.services import create_seller
from tests.helpers.operators import restore_default_operators
from tests.helpers.stats import STATS

_names = itertools.count(1)

PHONES = st.integers(min_value=0, max_value=9_999_999).map(lambda n: f"+98912{n:07d}")
# Mostly everyday amounts (so sales both succeed and bounce), sometimes the extremes.
AMOUNTS = st.one_of(st.integers(min_value=1, max_value=5_000_000), st.sampled_from([1, 10**15]))
SALE_AMOUNTS = st.one_of(st.integers(min_value=1, max_value=300_000), st.sampled_from([1, 10**15]))
KEYS = st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"]))


def money_tables() -> dict:
    """Everything a refused operation must leave as it was."""
    return {
        "sellers": sorted(Seller.objects.values_list("pk", "balance", "ledger_sequence")),
        "ledger": LedgerEntry.objects.count(),
        "recharges": Recharge.objects.count(),
        "batches": RechargeBatch.objects.count(),
        "credit_requests": sorted(CreditRequest.objects.values_list("pk", "status", "decided_at")),
        "adjustments": BalanceAdjustment.objects.count(),
    }


class LedgerMachine(RuleBasedStateMachine):
    credit_requests = Bundle("credit_requests")

    def __init__(self):
        super().__init__()
        self.staff: Any = None
        self.sellers: list[int] = []
        self.balance: dict[int, int] = {}  # the model: what each balance must be
        self.entries: dict[int, int] = {}  # how many ledger entries each seller must have
        self.requests: dict[int, tuple[int, int, str]] = {}  # id -> (seller, amount, status)
        self.keys: dict[
            tuple[int, str], tuple[str, str | None, int, str]
        ] = {}  # (seller, key) -> (endpoint, hash, status, body)
        self.refusals = 0

    @initialize(funding=st.lists(st.integers(min_value=0, max_value=3_000_000), min_size=2, max_size=3))
    def create_sellers(self, funding):
        """2-3 sellers with unique usernames, each funded by an approved top-up
        (or not at all, for 0), so sales both succeed and bounce."""
        restore_default_operators()  # the previous example's flush emptied their table
        self.staff = get_user_model().objects.create_user(username=f"machine-staff{next(_names)}", is_staff=True)
        for amount in funding:
            number = next(_names)
            seller, _ = create_seller(name=f"Machine shop {number}", username=f"machine-shop{number}")
            self.sellers.append(seller.pk)
            self.balance[seller.pk] = 0
            self.entries[seller.pk] = 0
            if amount:
                self.top_up(len(self.sellers) - 1, amount)

    def teardown(self):
        # Empty tables for the next example: TRUNCATE, as the ledger refuses DELETE.
        call_command("flush", verbosity=0, interactive=False, inhibit_post_migrate=True)
        STATS["ledger state machine refused operations checked"] = (
            STATS.get("ledger state machine refused operations checked", 0) + self.refusals
        )

    # Rules ----------------------------------------------------------------

    @rule(target=credit_requests, index=st.integers(0, 2), amount=AMOUNTS)
    def request_credit(self, index, amount):
        seller = self.seller(index)
        before = money_tables()
        credit_request = request_credit(seller_id=seller, amount=amount)
        assert credit_request.status == CreditRequest.Status.PENDING
        self.requests[credit_request.pk] = (seller, amount, "pending")
        assert money_tables()["sellers"] == before["sellers"]  # a request moves no money
        return credit_request.pk

    @rule(index=st.integers(0, 2), amount=AMOUNTS)
    def top_up(self, index, amount):
        """Request and approval in one step, as staff usually do: keeps balances up."""
        seller = self.seller(index)
        credit_request = request_credit(seller_id=seller, amount=amount)
        self.requests[credit_request.pk] = (seller, amount, "pending")
        self.approve(credit_request.pk)

    @precondition(lambda self: any(status == "pending" for _, _, status in self.requests.values()))
    @rule(pick=st.integers(min_value=0, max_value=10**6), approve=st.booleans())
    def decide_a_pending_request(self, pick, approve):
        pending = sorted(pk for pk, (_, _, status) in self.requests.items() if status == "pending")
        credit_request_id = pending[pick % len(pending)]
        (self.approve if approve else self.reject)(credit_request_id)

    @rule(credit_request_id=credit_requests)
    def approve_any_request(self, credit_request_id):
        self.approve(credit_request_id)

    @rule(credit_request_id=credit_requests)
    def reject_any_request(self, credit_request_id):
        self.reject(credit_request_id)

    @rule(index=st.integers(0, 2), phone=PHONES, amount=SALE_AMOUNTS, key=KEYS)
    def sell_recharge(self, index, phone, amount, key):
        seller = self.seller(index)
        body = {"phone_number": phone, "amount": amount}
        self.sale("recharges", seller, key, body, amount, 1, sell_recharge, phone_number=phone, amount=amount)

    @rule(
        index=st.integers(0, 2),
        items=st.lists(st.tuples(PHONES, SALE_AMOUNTS.filter(lambda a: a < 10**15)), min_size=1, max_size=5),
        key=KEYS,
    )
    def sell_recharge_batch(self, index, items, key):
        seller = self.seller(index)
        body = {"items": [{"phone_number": phone, "amount": amount} for phone, amount in items]}
        total = sum(amount for _, amount in items)
        self.sale("recharge-batches", seller, key, body, total, len(items), sell_recharge_batch, items=items)

    @rule(index=st.integers(0, 2), amount=AMOUNTS, debit=st.booleans())
    def adjust_balance(self, index, amount, debit):
        seller = self.seller(index)
        signed = -amount if debit else amount
        if self.balance[seller] + signed < 0:
            self.refused(
                InsufficientBalance,
                adjust_balance,
                seller_id=seller,
                amount=signed,
                reason="machine",
                created_by=self.staff,
            )
            return
        entry = adjust_balance(seller_id=seller, amount=signed, reason="machine", created_by=self.staff)
        self.balance[seller] += signed
        self.entries[seller] += 1
        assert (entry.amount, entry.balance_after, entry.sequence) == (
            signed,
            self.balance[seller],
            self.entries[seller],
        )

    # Invariants -------------------------------------------------------------

    @invariant()
    def balances_match_the_model_and_the_ledger(self):
        for seller in self.sellers:
            balance, sequence = Seller.objects.values_list("balance", "ledger_sequence").get(pk=seller)
            assert balance == self.balance[seller]
            assert balance >= 0
            entries = list(
                LedgerEntry.objects.filter(seller_id=seller)
                .order_by("sequence")
                .values_list("sequence", "amount", "balance_after")
            )
            assert [entry[0] for entry in entries] == list(range(1, len(entries) + 1))
            assert len(entries) == sequence == self.entries[seller]
            running = 0
            for _, amount, balance_after in entries:
                running += amount
                assert balance_after == running >= 0
            assert sum(amount for _, amount, _ in entries) == running == balance

    @invariant()
    def reconcile_finds_nothing(self):
        assert reconcile() == []

    # Helpers ----------------------------------------------------------------

    def approve(self, credit_request_id):
        """Approves and checks against the model: credited once, or AlreadyDecided."""
        seller, amount, status = self.requests[credit_request_id]
        if status == "rejected":
            self.refused(
                AlreadyDecided, approve_credit_request, credit_request_id=credit_request_id, decided_by=self.staff
            )
            return
        before = money_tables()
        decided = approve_credit_request(credit_request_id=credit_request_id, decided_by=self.staff)
        assert decided.status == CreditRequest.Status.APPROVED
        if status == "approved":  # approving an approved request credits nothing more
            assert money_tables() == before
            return
        self.requests[credit_request_id] = (seller, amount, "approved")
        self.balance[seller] += amount
        self.entries[seller] += 1

    def reject(self, credit_request_id):
        """Rejects and checks against the model: no money moves, or AlreadyDecided."""
        seller, amount, status = self.requests[credit_request_id]
        if status == "approved":
            self.refused(
                AlreadyDecided, reject_credit_request, credit_request_id=credit_request_id, decided_by=self.staff
            )
            return
        before = money_tables()
        decided = reject_credit_request(credit_request_id=credit_request_id, decided_by=self.staff)
        assert decided.status == CreditRequest.Status.REJECTED
        after = money_tables()
        if status == "pending":  # only the request itself changes
            del before["credit_requests"], after["credit_requests"]
        assert after == before
        self.requests[credit_request_id] = (seller, amount, "rejected")

    def seller(self, index: int) -> int:
        return self.sellers[index % len(self.sellers)]

    def refused(self, error, action, **kwargs):
        """The action raises `error` and leaves every money table as it was."""
        before = money_tables()
        with pytest.raises(error):
            action(**kwargs)
        assert money_tables() == before
        self.refusals += 1

    def sale(self, endpoint, seller, key, body, total, count, service, **kwargs):
        """Runs a recharge service and checks it against the model: 201 and a
        debit, 402 and nothing, or the replay / refusal an Idempotency-Key asks for."""
        digest = request_hash(body) if key else None
        before, records = money_tables(), IdempotencyRecord.objects.count()
        stored = self.keys.get((seller, key)) if key else None
        if stored is not None and stored[:2] != (endpoint, digest):
            with pytest.raises(IdempotencyKeyReused):
                service(seller_id=seller, idempotency_key=key, request_hash=digest, **kwargs)
            assert (money_tables(), IdempotencyRecord.objects.count()) == (before, records)
            self.refusals += 1
            return
        result = service(seller_id=seller, idempotency_key=key, request_hash=digest, **kwargs)
        if stored is not None:  # the same request again: the first answer, no money moves
            assert (result.replayed, result.status_code, json.loads(result.body)) == (
                True,
                stored[2],
                json.loads(stored[3]),
            )
            assert (money_tables(), IdempotencyRecord.objects.count()) == (before, records)
            return
        assert not result.replayed
        if total > self.balance[seller]:
            assert result.status_code == 402
            error = json.loads(result.body)["error"]
            assert error["code"] == "insufficient_balance"
            assert error["details"] == {"balance": self.balance[seller], "amount": total}
            assert money_tables() == before
            self.refusals += 1
        else:
            assert result.status_code == 201
            self.balance[seller] -= total
            self.entries[seller] += count
            assert json.loads(result.body)["balance_after"] == self.balance[seller]
        if key:
            self.keys[(seller, key)] = (endpoint, digest, result.status_code, result.body)
            assert IdempotencyRecord.objects.count() == records + 1


@pytest.mark.django_db(transaction=True)
def test_ledger_state_machine():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
