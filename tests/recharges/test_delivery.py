"""Delivery to the operator simulator (a real subprocess) and back: statuses,
refunds, the money, and never a second top-up for one recharge."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from callbacks.models import CallbackEvent
from callbacks.services import set_callback_url
from ledger.models import LedgerEntry
from ledger.selectors import reconcile
from ledger.services import adjust_balance
from recharges.delivery import Outcome, call_operator, claim_due, drain_due, record_outcomes, resolve_recharge
from recharges.errors import AlreadyFinal
from recharges.gateway import HttpGateway
from recharges.models import CommissionRate, Product, Recharge
from recharges.selectors import get_recharge
from recharges.services import sell_recharge
from tests.helpers.hostile_operator import WRONG, hostile_operator
from tests.helpers.ledger_entries import MAX_BALANCE, raise_balance_to_the_limit
from tests.helpers.simulator import SimulatorProcess

START = 1_000_000
LEASE = 30


@pytest.fixture
def fast_backoff(settings):
    settings.DELIVERY_MAX_BACKOFF_SECONDS = 1


@pytest.fixture
def sim(tmp_path):
    simulator = SimulatorProcess(tmp_path / "sim.sqlite3", hang_seconds=3)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def gateway(sim):
    gateway = sim.gateway(read_timeout=1.0)
    yield gateway
    gateway.close()


def sell(seller, last_four: str, amount: int = 5_000) -> int:
    result = sell_recharge(seller_id=seller.pk, phone_number=f"+98912123{last_four}", amount=amount)
    assert result.status_code == 201
    return int(result.body.split('"id": ')[1].split(",")[0])


def reference_of(recharge_id: int) -> str:
    """The reference the operator knows the recharge by."""
    return str(Recharge.objects.values_list("topup_reference", flat=True).get(pk=recharge_id))


def deliver_until_settled(gateway, *, seconds: float = 30) -> None:
    """Runs the worker's cycle (claim, call, record) until nothing pending is due."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        claims = claim_due(limit=100, lease_seconds=LEASE)
        record_outcomes([call_operator(gateway, claim) for claim in claims])
        if not Recharge.objects.filter(status="pending", next_attempt_at__isnull=False).exists():
            return
        time.sleep(0.2)
    raise AssertionError("recharges still pending")


def assert_books_balance(seller) -> None:
    seller.refresh_from_db()
    assert LedgerEntry.objects.filter(seller=seller).aggregate(total=Sum("amount"))["total"] == seller.balance
    assert reconcile() == []


@pytest.mark.django_db(transaction=True)
def test_each_sandbox_number_ends_as_the_contract_says(make_seller, gateway, sim, fast_backoff):
    seller = make_seller(balance=START)
    set_callback_url(seller_id=seller.pk, url="https://shop.example/hooks")
    ids = {suffix: sell(seller, suffix) for suffix in ["0000", "9990", "9991", "9992", "9993", "9994"]}
    deliver_until_settled(gateway)
    ends = {
        suffix: Recharge.objects.values_list("status", "failure_code").get(pk=recharge_id)
        for suffix, recharge_id in ids.items()
    }
    assert ends == {
        "0000": ("successful", None),
        "9990": ("failed", "operator_declined"),
        "9991": ("successful", None),
        "9992": ("failed", "not_delivered"),
        "9993": ("successful", None),
        "9994": ("failed", "operator_rejected_number"),
    }
    refunds = LedgerEntry.objects.filter(kind="refund").order_by("recharge_id")
    assert [(entry.recharge_id, entry.amount) for entry in refunds] == [
        (ids["9990"], 5_000),
        (ids["9992"], 5_000),
        (ids["9994"], 5_000),
    ]
    seller.refresh_from_db()
    assert seller.balance == START - 3 * 5_000
    assert_books_balance(seller)
    successful = Recharge.objects.filter(status="successful")
    assert all(recharge.operator_reference and recharge.completed_at for recharge in successful)
    stats = sim.stats()
    assert (stats["charged_twice"], stats["repeated_topup_requests"]) == (0, 0)
    assert stats["topup_requests"] == 6
    # Each final status queued one signed event, carrying the recharge as GET shows it.
    events = {json.loads(event.body)["data"]["id"]: event for event in CallbackEvent.objects.filter(seller=seller)}
    assert {recharge_id: events[recharge_id].type for recharge_id in events} == {
        recharge_id: "recharge.failed" if suffix in ("9990", "9992", "9994") else "recharge.succeeded"
        for suffix, recharge_id in ids.items()
    }
    assert json.loads(events[ids["9990"]].body)["data"] == get_recharge(recharge_id=ids["9990"], seller_id=seller.pk)


@pytest.mark.django_db(transaction=True)
def test_a_sale_due_while_every_call_in_flight_hangs_goes_out_at_once(make_seller, sim):
    """8 calls at once, 7 of them hanging (9992, 3 s): the sale that falls due
    meanwhile takes the free slot within a poll, not when a hang ends."""
    seller = make_seller(balance=START)
    hanging = [
        sell_recharge(seller_id=seller.pk, phone_number=f"+98912{i:03d}9992", amount=5_000).status_code
        for i in range(7)
    ]
    assert hanging == [201] * 7
    gateway = sim.gateway(read_timeout=5.0)
    drained: list[bool] = []

    def drain() -> None:
        try:
            with ThreadPoolExecutor(8) as calls:
                drained.append(drain_due(gateway, calls, concurrency=8, until=time.monotonic() + 2))
        finally:
            connection.close()

    drainer = threading.Thread(target=drain)
    drainer.start()
    try:
        while Recharge.objects.filter(attempts=1).count() < 7:
            time.sleep(0.02)
        started = time.monotonic()
        fresh = sell(seller, "0000")
        while Recharge.objects.get(pk=fresh).status == "pending":
            assert time.monotonic() - started < 1.5, "the sale waited for a hanging call to end"
            time.sleep(0.02)
    finally:
        drainer.join()
        gateway.close()
    assert drained == [True]  # out of time: more may be due
    assert Recharge.objects.filter(status="pending", attempts=1, topup_requested_at__isnull=False).count() == 7


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_its_claim_never_sends_the_top_up_again(make_seller, gateway, sim):
    seller = make_seller(balance=START)
    sent = sell(seller, "0001")
    never_sent = sell(seller, "0002")
    claims = {claim.recharge_id: claim for claim in claim_due(limit=10, lease_seconds=LEASE)}
    assert claims[sent].send_topup and claims[never_sent].send_topup
    # The worker calls the operator for one, then dies before recording anything.
    assert call_operator(gateway, claims[sent]).status == "successful"
    Recharge.objects.filter(status="pending").update(next_attempt_at="2000-01-01T00:00:00Z")  # the lease ran out
    reclaimed = claim_due(limit=10, lease_seconds=LEASE)
    assert sorted((claim.recharge_id, claim.send_topup) for claim in reclaimed) == [(sent, False), (never_sent, False)]
    record_outcomes([call_operator(gateway, claim) for claim in reclaimed])
    assert Recharge.objects.get(pk=sent).status == "successful"
    # The operator never heard of the other one: it failed, refunded, and was never sent.
    assert Recharge.objects.values_list("status", "failure_code").get(pk=never_sent) == ("failed", "not_delivered")
    references = sim.references()
    assert references[reference_of(sent)]["topup_requests"] == 1
    assert references[reference_of(never_sent)]["topup_requests"] == 0
    assert sim.stats()["charged_twice"] == 0
    seller.refresh_from_db()
    assert seller.balance == START - 5_000
    assert_books_balance(seller)


@pytest.mark.django_db(transaction=True)
def test_an_unknown_outcome_is_asked_again_and_parked_past_the_horizon(make_seller, settings, staff_user, tmp_path):
    settings.DELIVERY_HORIZON_SECONDS = 0
    seller = make_seller(balance=START)
    lost = sell(seller, "0003")
    other = sell(seller, "0004")
    down = SimulatorProcess(tmp_path / "none.sqlite3")  # never started: connection refused
    gateway = down.gateway(read_timeout=0.5)
    record_outcomes([call_operator(gateway, claim) for claim in claim_due(limit=10, lease_seconds=LEASE)])
    gateway.close()
    parked = Recharge.objects.get(pk=lost)
    assert (parked.status, parked.next_attempt_at, parked.attempts) == ("pending", None, 1)
    assert parked.topup_requested_at is None  # no connection was made: nothing reached the operator
    assert parked.last_error
    assert claim_due(limit=10, lease_seconds=LEASE) == []

    resolve_recharge(recharge_id=lost, successful=True, operator_reference="MCI-778899", resolved_by=staff_user)
    resolve_recharge(recharge_id=other, successful=False, resolved_by=staff_user)
    assert Recharge.objects.values_list("status", "operator_reference", "resolved_by").get(pk=lost) == (
        "successful",
        "MCI-778899",
        staff_user.pk,
    )
    assert Recharge.objects.values_list("status", "failure_code", "resolved_by").get(pk=other) == (
        "failed",
        "not_delivered",
        staff_user.pk,
    )
    with pytest.raises(AlreadyFinal):
        resolve_recharge(recharge_id=other, successful=True, operator_reference="X", resolved_by=staff_user)
    seller.refresh_from_db()
    assert seller.balance == START - 5_000
    assert LedgerEntry.objects.filter(recharge_id=other, kind="refund").count() == 1
    assert_books_balance(seller)


@pytest.mark.django_db(transaction=True)
def test_a_top_up_that_never_left_is_sent_once_the_operator_is_back(make_seller, tmp_path, fast_backoff):
    """The simulator is down at the first attempt (connection refused: nothing
    was sent), then up: the top-up goes through instead of failing."""
    seller = make_seller(balance=START)
    recharge_id = sell(seller, "0005")
    simulator = SimulatorProcess(tmp_path / "late.sqlite3")
    gateway = simulator.gateway(read_timeout=1.0)
    record_outcomes([call_operator(gateway, claim) for claim in claim_due(limit=10, lease_seconds=LEASE)])
    assert Recharge.objects.values_list("status", "topup_requested_at").get(pk=recharge_id) == ("pending", None)
    simulator.start()
    try:
        deliver_until_settled(gateway)
        assert Recharge.objects.get(pk=recharge_id).status == "successful"
        assert simulator.references()[reference_of(recharge_id)]["topup_requests"] == 1
    finally:
        gateway.close()
        simulator.stop()
    assert_books_balance(seller)


@pytest.mark.django_db(transaction=True)
def test_a_reference_an_earlier_database_used_decides_nothing_here(make_seller, gateway, sim, fast_backoff):
    """A new database in front of the same operator (a restore, staging, a
    reinstall) numbers its recharges from 1 again, while the operator still
    holds the earlier database's top-ups: the earlier recharge with this id
    was topped up successfully; this one, to a number that declines, fails."""
    seller = make_seller(balance=START)
    recharge_id = sell(seller, "9990")
    earlier = gateway.top_up(reference=str(recharge_id), number="+989121234567", amount=5_000, operator="mci")
    assert earlier.outcome == "successful"

    deliver_until_settled(gateway)

    recharge = Recharge.objects.get(pk=recharge_id)
    assert (recharge.status, recharge.failure_code, recharge.operator_reference) == (
        "failed",
        "operator_declined",
        None,
    )
    assert list(LedgerEntry.objects.filter(recharge=recharge).values_list("kind", "amount").order_by("id")) == [
        ("recharge", -5_000),
        ("refund", 5_000),
    ]
    seller.refresh_from_db()
    assert seller.balance == START
    assert_books_balance(seller)
    references = sim.references()
    ours = references[str(recharge.topup_reference)]
    assert (ours["msisdn"], ours["amount"], ours["status"], ours["charges"]) == ("+989121239990", 5_000, "declined", 0)
    # The earlier database's top-up is untouched: nobody asked about it again.
    assert (references[str(recharge_id)]["topup_requests"], references[str(recharge_id)]["status_queries"]) == (1, 0)


@pytest.mark.parametrize("wrong", list(WRONG))
@pytest.mark.django_db(transaction=True)
def test_an_answer_about_another_top_up_is_unknown_never_final(make_seller, settings, wrong):
    """A hostile (or broken) operator answers "successful" about a top-up that
    differs from the one sent by one field: the recharge stays pending, is asked
    about again by status query, and past the horizon waits for staff."""
    seller = make_seller(balance=START)
    recharge_id = sell(seller, "0006")
    with hostile_operator(wrong) as operator:
        gateway = HttpGateway(operator.url, connect_timeout=1, read_timeout=2)

        record_outcomes([call_operator(gateway, claim) for claim in claim_due(limit=10, lease_seconds=LEASE)])

        recharge = Recharge.objects.get(pk=recharge_id)
        assert (recharge.status, recharge.operator_reference, recharge.attempts) == ("pending", None, 1)
        assert recharge.topup_requested_at is not None and recharge.next_attempt_at is not None
        assert wrong in recharge.last_error
        # Due again: a status query, never a second top-up, and the same answer changes nothing.
        Recharge.objects.filter(pk=recharge_id).update(next_attempt_at="2000-01-01T00:00:00Z")
        [claim] = claim_due(limit=10, lease_seconds=LEASE)
        assert not claim.send_topup
        record_outcomes([call_operator(gateway, claim)])
        recharge.refresh_from_db()
        assert (recharge.status, recharge.attempts) == ("pending", 2)
        assert recharge.next_attempt_at is not None
        # Past the horizon it is no longer asked about: it waits for staff.
        settings.DELIVERY_HORIZON_SECONDS = 0
        Recharge.objects.filter(pk=recharge_id).update(next_attempt_at="2000-01-01T00:00:00Z")
        record_outcomes([call_operator(gateway, claim) for claim in claim_due(limit=10, lease_seconds=LEASE)])
        gateway.close()
        reference = reference_of(recharge_id)
        assert operator.requests == [("POST", "/v1/topups")] + [("GET", f"/v1/topups/{reference}")] * 2
    assert Recharge.objects.values_list("status", "next_attempt_at").get(pk=recharge_id) == ("pending", None)
    assert not LedgerEntry.objects.filter(kind="refund").exists()
    seller.refresh_from_db()
    assert seller.balance == START - 5_000


def test_every_event_carries_the_recharge_exactly_as_get_shows_it_once_final(
    make_seller, seller_client, gateway, client, django_user_model
):
    """Contract v1.2, "Callbacks carry the state they announce": for each way a
    recharge becomes final (the worker's success batch, its failure with a
    refund, staff resolving it either way in the admin), the event's data is
    the very bytes GET /api/v1/recharges/{id}/ answers."""
    seller = make_seller(balance=START)
    api = seller_client(seller)
    assert api.put("/api/v1/me/callback/", {"url": "https://shop.example/hooks"}, format="json").status_code == 200
    ids = {}
    for name, number in [("delivered", "09121230000"), ("declined", "09121239990"), ("by_staff", "09121230001")]:
        sale = api.post("/api/v1/recharges/", {"phone_number": number, "amount": 5_000}, format="json")
        assert sale.status_code == 201
        ids[name] = sale.json()["id"]
    sale = api.post("/api/v1/recharges/", {"phone_number": "09121230002", "amount": 5_000}, format="json")
    ids["refunded_by_staff"] = sale.json()["id"]
    # Two recharges the operator never heard of, waiting for staff.
    Recharge.objects.filter(pk__in=[ids["by_staff"], ids["refunded_by_staff"]]).update(next_attempt_at=None)
    deliver_until_settled(gateway)
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    for name, form in [
        ("by_staff", {"outcome": "successful", "operator_reference": "MCI-778899"}),
        ("refunded_by_staff", {"outcome": "failed"}),
    ]:
        assert client.post(f"/admin/recharges/recharge/{ids[name]}/resolve/", form).status_code == 302

    events = {json.loads(event.body)["data"]["id"]: event for event in CallbackEvent.objects.filter(seller=seller)}
    assert sorted(events) == sorted(ids.values())
    for name, recharge_id in ids.items():
        shown = api.get(f"/api/v1/recharges/{recharge_id}/")
        assert shown.status_code == 200
        assert shown.json()["status"] != "pending", name
        body = events[recharge_id].body
        assert json.loads(body)["data"] == shown.json(), name
        # The bytes sent are the bytes GET answers (data is the body's last member).
        assert body.endswith('"data":' + shown.content.decode() + "}"), name


@pytest.mark.django_db(transaction=True)
def test_a_refund_that_cannot_be_written_waits_for_staff_and_holds_up_nothing(
    make_seller, staff_user, gateway, client, django_user_model
):
    """The operator declines a recharge of a seller whose balance is the largest
    the ledger holds: its refund cannot be written. The rest of the batch is
    recorded all the same, that recharge waits for staff with the reason, the
    next drain passes it by, and staff get a clear message, not a 500."""
    rich, first, second = (make_seller(balance=START) for _ in range(3))
    for seller in (rich, first, second):
        set_callback_url(seller_id=seller.pk, url="https://shop.example/hooks")
    poisoned = sell(rich, "9990")
    others = {
        sell(first, "0000"): "successful",
        sell(first, "9990"): "failed",
        sell(second, "9994"): "failed",
        sell(second, "0001"): "successful",
        sell(rich, "0002"): "successful",
    }
    raise_balance_to_the_limit(rich, staff_user, headroom=0)
    outcomes = [call_operator(gateway, claim) for claim in claim_due(limit=10, lease_seconds=LEASE)]
    # The refund that cannot be written first: every other failure comes after it.
    outcomes.sort(key=lambda outcome: outcome.recharge_id != poisoned)
    assert (outcomes[0].recharge_id, outcomes[0].status) == (poisoned, "failed")

    record_outcomes(outcomes)

    assert dict(Recharge.objects.filter(pk__in=others).values_list("pk", "status")) == others
    for seller in (first, second):
        seller.refresh_from_db()
        assert seller.balance == START - 5_000
        assert_books_balance(seller)
    rich.refresh_from_db()
    assert rich.balance == MAX_BALANCE
    assert_books_balance(rich)
    parked = Recharge.objects.get(pk=poisoned)
    assert (parked.status, parked.next_attempt_at) == ("pending", None)
    assert parked.last_error.startswith("The operator answered operator_declined; the refund cannot be written:")
    assert "largest amount the ledger holds" in parked.last_error
    assert not LedgerEntry.objects.filter(recharge_id=poisoned, kind="refund").exists()
    assert sorted(json.loads(body)["data"]["id"] for body in CallbackEvent.objects.values_list("body", flat=True)) == (
        sorted(others)
    )

    # The next drain does not ask about it again, and ends.
    with ThreadPoolExecutor(4) as calls:
        assert drain_due(gateway, calls, concurrency=4, until=time.monotonic() + 5) is False
    assert Recharge.objects.values_list("status", "attempts").get(pk=poisoned) == ("pending", 1)

    # Staff see it among those that need them, with why, and cannot refund it yet: a clear message.
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    stuck = client.get("/admin/recharges/recharge/", {"delivery": "stuck"}).content.decode()
    assert f">{poisoned}<" in stuck and "the refund cannot be written" in stuck
    answer = client.post(f"/admin/recharges/recharge/{poisoned}/resolve/", {"outcome": "failed"}, follow=True)
    assert answer.status_code == 200
    shown = [str(message) for message in answer.context["messages"]]
    assert len(shown) == 1 and shown[0].startswith(f"Recharge #{poisoned} was not resolved:"), shown
    assert "largest amount the ledger holds" in shown[0]
    assert Recharge.objects.get(pk=poisoned).status == "pending"
    assert not LedgerEntry.objects.filter(recharge_id=poisoned, kind="refund").exists()

    # The way out the message gives: lower the balance, then resolve it.
    adjust_balance(seller_id=rich.pk, amount=-5_000, reason="room for a refund", created_by=staff_user)
    client.post(f"/admin/recharges/recharge/{poisoned}/resolve/", {"outcome": "failed"})
    assert Recharge.objects.values_list("status", "failure_code").get(pk=poisoned) == ("failed", "not_delivered")
    rich.refresh_from_db()
    assert rich.balance == MAX_BALANCE
    assert_books_balance(rich)


@pytest.mark.django_db(transaction=True)
def test_a_success_the_database_refuses_waits_for_staff_and_holds_up_nothing(make_seller):
    """An operator's reference longer than the column (the database refuses
    the row) fails the success batch's one statement: the other successes
    are recorded one by one, and that recharge waits for staff with the reason."""
    seller = make_seller(balance=START)
    set_callback_url(seller_id=seller.pk, url="https://shop.example/hooks")
    ids = [sell(seller, f"000{i}") for i in range(4)]
    claim_due(limit=10, lease_seconds=LEASE)
    refused = ids[1]
    record_outcomes(
        [
            Outcome(recharge_id, "successful", operator_reference="R" * (200 if recharge_id == refused else 12))
            for recharge_id in ids
        ]
    )

    assert dict(Recharge.objects.values_list("pk", "status")) == {
        recharge_id: "pending" if recharge_id == refused else "successful" for recharge_id in ids
    }
    parked = Recharge.objects.get(pk=refused)
    assert parked.next_attempt_at is None
    assert parked.last_error.startswith("The operator answered successful; recording it failed:")
    events = [json.loads(body)["data"]["id"] for body in CallbackEvent.objects.values_list("body", flat=True)]
    assert sorted(events) == [recharge_id for recharge_id in ids if recharge_id != refused]
    assert_books_balance(seller)


PACKAGE = 47_000
PACKAGE_RATE = 350  # 3.5 %: commission_of(47_000, 350) = 1_645


@pytest.mark.django_db(transaction=True)
def test_a_package_is_delivered_as_its_product_and_the_sandbox_endings_apply(make_seller, gateway, sim, fast_backoff):
    """The operator is asked for the package by its code, in the top-up and in
    every status query (9991 and 9993 end by one: an answer naming another
    product would be unknown, so they would never end); a declined or rejected
    package is refunded exactly and earns nothing, a delivered one its commission."""
    Product.objects.create(
        code="mci-1gb-7d",
        operator_id="mci",
        name="1 GB",
        name_fa="۱ گیگ",
        amount=PACKAGE,
        data_mb=1024,
        validity_days=7,
    )
    seller = make_seller(balance=START)
    CommissionRate.objects.create(seller=seller, operator_id="mci", rate=PACKAGE_RATE)
    ids = {}
    for suffix in ["0000", "9990", "9991", "9993", "9994"]:
        result = sell_recharge(
            seller_id=seller.pk, phone_number=f"+98912123{suffix}", amount=None, operator="mci", product="mci-1gb-7d"
        )
        assert result.status_code == 201, result.body
        ids[suffix] = json.loads(result.body)["id"]
    airtime = sell(seller, "0001")
    deliver_until_settled(gateway)

    sent = sim.references()
    assert {
        suffix: (sent[reference_of(i)]["product"], sent[reference_of(i)]["amount"]) for suffix, i in ids.items()
    } == {suffix: ("mci-1gb-7d", PACKAGE) for suffix in ids}
    assert (sent[reference_of(airtime)]["product"], sent[reference_of(airtime)]["amount"]) == (None, 5_000)
    ends = {suffix: Recharge.objects.values_list("status", "failure_code").get(pk=i) for suffix, i in ids.items()}
    assert ends == {
        "0000": ("successful", None),
        "9990": ("failed", "operator_declined"),
        "9991": ("successful", None),
        "9993": ("successful", None),
        "9994": ("failed", "operator_rejected_number"),
    }
    money = {
        (entry.recharge_id, entry.kind): entry.amount
        for entry in LedgerEntry.objects.filter(seller=seller, kind__in=["refund", "commission"])
    }
    commission = 1_645
    assert money == {
        (ids["9990"], "refund"): PACKAGE,
        (ids["9994"], "refund"): PACKAGE,
        (ids["0000"], "commission"): commission,
        (ids["9991"], "commission"): commission,
        (ids["9993"], "commission"): commission,
        (airtime, "commission"): 175,  # commission_of(5_000, 350)
    }
    assert [get_recharge(recharge_id=ids[s], seller_id=seller.pk)["commission"] for s in ("0000", "9990", "9994")] == [
        commission,
        0,
        0,
    ]
    seller.refresh_from_db()
    assert seller.balance == START - 3 * PACKAGE + 3 * commission - 5_000 + 175
    assert_books_balance(seller)
    stats = sim.stats()
    assert (stats["charged_twice"], stats["repeated_topup_requests"]) == (0, 0)
