"""Delivering sold recharges to their operators, outside any lock.

The pending recharge is its own outbox: the sale statement commits it with
its debit, so no delivery can be lost. A delivery job (recharges/tasks.py,
run by `manage.py run_worker`) drains what is due:

1. claims due recharges in one short transaction (`FOR UPDATE SKIP LOCKED`),
   moving `next_attempt_at` a lease ahead and stamping `topup_requested_at`,
   and commits before calling anyone: a worker killed mid-call leaves the
   record that the top-up may have been sent;
2. calls the operator for each, concurrently, outside any transaction (the
   loop in config/dispatch.py, which the callbacks' sender shares): the
   top-up if it was never requested, else a status query for the recharge's
   `topup_reference`, so a top-up is never sent twice (a job run twice only
   asks); an answer about any other top-up than the one sent is unknown;
3. writes the outcomes: `successful` with its commission (if its rate earns
   one) in the same transaction; `failed` with its refund in the same
   transaction; or, after an unknown outcome (timeout, dropped connection,
   5xx), the next status query after a backoff of 1, 2, 4, ... seconds (a
   top-up that provably never left, no connection made, is sent again). Past
   the horizon a recharge is no longer queried and waits for staff
   (resolve_recharge, from the admin). So does one whose outcome cannot be
   written (a refund past the ledger's largest balance, a row the database
   refuses), with the reason as its last error: one item never holds up the
   rest of its batch, nor comes back at every drain.

Only a definite answer from the operator fails a recharge. Every final
status records the seller's callback event in its own transaction.

Lock order, in every transaction that makes recharges final (the success
batch, a failure with its refund, staff's resolution): the recharges, in id
order; then the sellers, in id order (FOR UPDATE for a refund or a
commission, FOR KEY SHARE for the callback events' foreign key, deferred: it would lock only at
commit); then the tracked operator floats, in operator order (a success
draws on them, a failure releases its reservation: recharges/floats.py), as
a sale takes its float after its seller; last the callback events and the job that wakes their sender
(`queue_job_unless_waiting`, whose unique index makes a second transaction
wait for the first's commit). A transaction that has queued that job never
waits for a row again, so none waits in a cycle
(tests/system/concurrency/test_delivery_outcomes.py).
"""

import json
import logging
import time
from collections.abc import Collection
from concurrent.futures import Executor
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import DataError, IntegrityError, InternalError, connection, transaction
from django.db.models.functions import Now

from callbacks.services import record_events
from config.dispatch import Dispatcher
from config.metrics import DELIVERIES, OPERATOR_LATENCY
from ledger.errors import BalanceLimitExceeded
from ledger.services import post_commissions, post_refund
from recharges.errors import AlreadyFinal, DeliveryInProgress, FloatNotCovering, RefundNotWritable
from recharges.floats import draw_for_successes, release_reservation
from recharges.gateway import HttpGateway, StatusAnswer, TopUpAnswer
from recharges.models import Recharge

log = logging.getLogger(__name__)
batch_log = structlog.get_logger("delivery")

FAILURE_MESSAGES: dict[str, str] = {
    Recharge.Failure.OPERATOR_DECLINED: "The operator declined the top-up; the amount was refunded.",
    Recharge.Failure.OPERATOR_REJECTED_NUMBER: "The operator cannot top up this number; the amount was refunded.",
    Recharge.Failure.NOT_DELIVERED: "The top-up was not delivered; the amount was refunded.",
}
POLL_SECONDS = 0.1
CLAIM_LIMIT = 500
# What each definite answer of the gateway means for the recharge.
_FAILURES = {
    "declined": Recharge.Failure.OPERATOR_DECLINED,
    "rejected_number": Recharge.Failure.OPERATOR_REJECTED_NUMBER,
    "not_found": Recharge.Failure.NOT_DELIVERED,
}


@dataclass(frozen=True)
class Claim:
    """A due recharge a worker has leased, with what to ask the operator."""

    recharge_id: int
    topup_reference: str
    phone_number: str
    amount: int
    operator: str
    send_topup: bool
    product: str | None  # the package's code; None for airtime


@dataclass(frozen=True)
class Outcome:
    """What the operator's answer means: a final status, or None (unknown)."""

    recharge_id: int
    status: str | None
    operator_reference: str | None = None
    failure_code: str | None = None
    message: str = ""
    not_sent: bool = False  # the top-up never reached the operator: send it again


def drain_due(gateway: HttpGateway, calls: Executor, *, concurrency: int, until: float) -> bool:
    """Delivers what is due, `concurrency` calls at once, until nothing is due
    or in flight (returns False), or until the monotonic time `until`: then it
    stops claiming, records what is in flight and returns True (more may be due).

    A database error propagates: what was claimed and not recorded is claimed
    again after its lease, and asked for by status.
    """
    deliveries = _Deliveries(gateway, calls, concurrency=concurrency)
    deliveries.run(until=until)
    more = time.monotonic() >= until
    # The job ends with its calls recorded (they do not outlive it, as the
    # sender's do): a worker stopped by SIGTERM leaves none in flight, and the
    # job schedules the next at the first status query due, which only the
    # recorded outcomes tell.
    deliveries.finish()
    return more


class _Deliveries(Dispatcher[Claim, Outcome]):
    """The shared loop (config/dispatch.py) over due recharges: claim them,
    ask the operator, record the answers."""

    def __init__(self, gateway: HttpGateway, calls: Executor, *, concurrency: int):
        # Claims when a quarter of the slots are free: fewer, larger claims.
        super().__init__(
            calls, max_in_flight=concurrency, claim_batch=max(1, concurrency // 4), poll_seconds=POLL_SECONDS
        )
        self._gateway = gateway
        self._lease = settings.OPERATOR_CONNECT_TIMEOUT + settings.OPERATOR_READ_TIMEOUT + 10

    def claim(self, free: int, in_flight: Collection[Claim]) -> list[Claim]:
        return claim_due(limit=min(free, CLAIM_LIMIT), lease_seconds=self._lease)

    def call(self, item: Claim) -> Outcome:
        return call_operator(self._gateway, item)

    def record(self, ended: list[tuple[Claim, Outcome]]) -> None:
        record_outcomes([outcome for _, outcome in ended])


def claim_due(*, limit: int, lease_seconds: float) -> list[Claim]:
    """Leases up to `limit` due recharges, oldest due first, and commits."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH due AS (
                SELECT id, topup_requested_at IS NULL AS send_topup
                  FROM recharges_recharge
                 WHERE status = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at
                 LIMIT %s
                   FOR UPDATE SKIP LOCKED
            )
            UPDATE recharges_recharge r
               SET next_attempt_at = now() + make_interval(secs => %s),
                   attempts = r.attempts + 1,
                   topup_requested_at = coalesce(r.topup_requested_at, now())
              FROM due, recharges_phonenumber pn
             WHERE r.id = due.id AND pn.id = r.phone_number_id
            RETURNING r.id, r.topup_reference::text, pn.e164, r.amount, r.operator, due.send_topup, r.product
            """,
            [limit, lease_seconds],
        )
        return [Claim(*row) for row in cursor.fetchall()]


def call_operator(gateway: HttpGateway, claim: Claim) -> Outcome:
    """Asks the operator once: the top-up, or the status of an earlier one."""
    started = time.perf_counter()
    try:
        if claim.send_topup:
            answer: TopUpAnswer | StatusAnswer = gateway.top_up(
                reference=claim.topup_reference,
                number=claim.phone_number,
                amount=claim.amount,
                operator=claim.operator,
                product=claim.product,
            )
        else:
            answer = gateway.status(
                reference=claim.topup_reference, number=claim.phone_number, amount=claim.amount, product=claim.product
            )
    except Exception as error:  # a bug in an adapter must not stop deliveries: ask again later
        log.exception("operator call failed for recharge %s", claim.recharge_id)
        return Outcome(claim.recharge_id, None, message=f"adapter error: {error!r}"[:255])
    finally:
        OPERATOR_LATENCY.labels(claim.operator, "topup" if claim.send_topup else "status").observe(
            time.perf_counter() - started
        )
    if answer.outcome == "successful":
        return Outcome(claim.recharge_id, Recharge.Status.SUCCESSFUL, operator_reference=answer.operator_reference)
    if answer.outcome in _FAILURES:
        return Outcome(claim.recharge_id, Recharge.Status.FAILED, failure_code=_FAILURES[answer.outcome])
    return Outcome(claim.recharge_id, None, message=answer.message[:255], not_sent=answer.outcome == "not_sent")


def record_outcomes(outcomes: list[Outcome]) -> None:
    """Writes what the operators answered: one statement for the successes,
    one transaction per failure (its refund), one statement for the rest."""
    successes = [outcome for outcome in outcomes if outcome.status == Recharge.Status.SUCCESSFUL]
    parked = _record_successes(successes) if successes else []
    failures = [outcome for outcome in outcomes if outcome.status == Recharge.Status.FAILED]
    parked += [
        outcome.recharge_id
        for outcome in failures
        if outcome.failure_code is not None and not _record_failure(outcome.recharge_id, outcome.failure_code)
    ]
    unknown = [outcome for outcome in outcomes if outcome.status is None]
    if unknown:
        _schedule_status_queries(unknown)
    for result, count in (("successful", len(successes)), ("failed", len(failures)), ("unknown", len(unknown))):
        if count:
            DELIVERIES.labels(result).inc(count)
    # One line per batch; the ids that need a look (failed, unknown, parked for staff) by name.
    batch_log.info(
        "delivery_batch",
        successful=len(successes),
        failed=[outcome.recharge_id for outcome in failures],
        unknown=[outcome.recharge_id for outcome in unknown],
        **({"parked": parked} if parked else {}),
    )


# The database refused a recharge's rows (a constraint, a value too long):
# asking the operator again would bring the same answer, so staff decide.
_REFUSED = (IntegrityError, DataError, InternalError)


def _record_successes(successes: list[Outcome]) -> list[int]:
    """Records the successes in one statement; returns the ids parked for staff.
    If the database refuses one, the statement fails for all: each is then
    recorded on its own, so that one cannot hold up the others."""
    try:
        _write_successes(successes)
    except (*_REFUSED, FloatNotCovering) as error:
        if len(successes) > 1:
            return [parked for outcome in successes for parked in _record_successes([outcome])]
        _park(successes[0].recharge_id, f"The operator answered successful; recording it failed: {error}")
        return [successes[0].recharge_id]
    return []


def _write_successes(successes: list[Outcome]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        # The recharges locked in id order first (the module's lock order).
        cursor.execute(
            """
            WITH locked AS MATERIALIZED (
                SELECT id FROM recharges_recharge
                 WHERE id = ANY(%(ids)s) AND status = 'pending'
                 ORDER BY id
                   FOR NO KEY UPDATE
            )
            UPDATE recharges_recharge r
               SET status = 'successful', operator_reference = o.reference, completed_at = now(),
                   next_attempt_at = NULL, last_error = ''
              FROM locked JOIN unnest(%(ids)s::bigint[], %(references)s::text[]) AS o(id, reference) USING (id)
             WHERE r.id = locked.id
            RETURNING r.id
            """,
            {"ids": [o.recharge_id for o in successes], "references": [o.operator_reference or "" for o in successes]},
        )
        succeeded = [recharge_id for (recharge_id,) in cursor.fetchall()]
        _pay_commissions(succeeded)
        _draw_floats(succeeded)
        _record_events(Recharge.Status.SUCCESSFUL, succeeded)


def _draw_floats(recharge_ids: list[int]) -> None:
    """Draws the tracked floats down by recharges this transaction has just
    made successful, once the sellers whose callback events it records are
    locked FOR KEY SHARE, in id order (the lock order above): a failure holds
    its seller FOR UPDATE for its refund and then releases on the float, so a
    success that took the float before that seller would wait in a cycle with it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT 1 FROM sellers_seller s
             WHERE s.id IN (SELECT r.seller_id FROM recharges_recharge r
                              JOIN callbacks_callbackendpoint e ON e.seller_id = r.seller_id
                             WHERE r.id = ANY(%s))
             ORDER BY s.id
               FOR KEY SHARE
            """,
            [recharge_ids],
        )
    draw_for_successes(recharge_ids)


def _pay_commissions(recharge_ids: list[int]) -> None:
    """Credits the commissions of recharges this transaction has just made
    successful (their rates were fixed at sale), before their events: the
    event shows the commission, and the sellers are locked after the recharges."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT seller_id, id, commission_of(amount, commission_rate) FROM recharges_recharge
             WHERE id = ANY(%s) AND commission_of(amount, commission_rate) > 0
             ORDER BY seller_id, id
            """,
            [recharge_ids],
        )
        commissions = cursor.fetchall()
    if commissions:
        post_commissions(commissions)


def _record_failure(recharge_id: int, failure_code: str) -> bool:
    """Fails the recharge with its refund; False if that cannot be written:
    the recharge is then parked for staff, so that it holds up neither the
    rest of the batch nor later drains (asking again would get the same answer)."""
    try:
        with transaction.atomic():
            recharge = Recharge.objects.select_for_update(no_key=True).get(pk=recharge_id)
            if recharge.status == Recharge.Status.PENDING:  # else staff resolved it meanwhile
                _fail(recharge, failure_code, resolved_by=None)
        return True
    except RefundNotWritable as error:
        _park(recharge_id, f"The operator answered {failure_code}; the refund cannot be written: {error.message}")
    except _REFUSED as error:
        _park(recharge_id, f"The operator answered {failure_code}; recording it failed: {error}")
    return False


def _park(recharge_id: int, reason: str) -> None:
    """No more automatic attempts: the recharge waits for staff (the admin
    lists it as needing them), with the reason as its last error."""
    log.error("recharge %s parked for staff: %s", recharge_id, reason)
    Recharge.objects.filter(pk=recharge_id, status=Recharge.Status.PENDING).update(
        next_attempt_at=None, last_error=reason[:255]
    )


def _fail(recharge: Recharge, failure_code: str, *, resolved_by) -> None:
    Recharge.objects.filter(pk=recharge.pk).update(
        status=Recharge.Status.FAILED,
        failure_code=failure_code,
        failure_message=FAILURE_MESSAGES[failure_code],
        completed_at=Now(),
        next_attempt_at=None,
        resolved_by=resolved_by,
    )
    try:
        post_refund(recharge=recharge)
    except BalanceLimitExceeded as error:
        raise RefundNotWritable(details=error.details) from error
    if recharge.float_reserved:
        release_reservation(operator=recharge.operator, amount=recharge.amount)
    _record_events(Recharge.Status.FAILED, [recharge.pk])


def _schedule_status_queries(unknown: list[Outcome]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH locked AS MATERIALIZED (
                SELECT id FROM recharges_recharge
                 WHERE id = ANY(%(ids)s) AND status = 'pending'
                 ORDER BY id
                   FOR NO KEY UPDATE
            )
            UPDATE recharges_recharge r
               SET next_attempt_at = CASE
                       WHEN r.created_at < now() - make_interval(secs => %(horizon)s) THEN NULL
                       ELSE now() + make_interval(secs => least(power(2, greatest(r.attempts - 1, 0)), %(cap)s)) END,
                   topup_requested_at = CASE WHEN o.not_sent THEN NULL ELSE r.topup_requested_at END,
                   last_error = o.message
              FROM locked
              JOIN unnest(%(ids)s::bigint[], %(messages)s::text[], %(not_sent)s::boolean[]) AS o(id, message, not_sent)
                   USING (id)
             WHERE r.id = locked.id
            """,
            {
                "ids": [o.recharge_id for o in unknown],
                "messages": [o.message for o in unknown],
                "not_sent": [o.not_sent for o in unknown],
                "horizon": settings.DELIVERY_HORIZON_SECONDS,
                "cap": settings.DELIVERY_MAX_BACKOFF_SECONDS,
            },
        )


def resolvable(recharge: Recharge) -> bool:
    """Whether staff may resolve this pending recharge: no top-up of it is in
    flight, because none was sent or the worker has given it up."""
    return recharge.topup_requested_at is None or recharge.next_attempt_at is None


def resolve_recharge(*, recharge_id: int, successful: bool, operator_reference: str = "", resolved_by) -> None:
    """Staff's decision on a recharge still pending that the worker no longer
    handles (past the horizon, or an outcome it could not write) or whose
    top-up was never sent: successful with the operator's reference, or
    failed as `not_delivered` with its refund. Raises AlreadyFinal if it is
    final, DeliveryInProgress while its top-up's outcome is still being asked
    (the operator may yet deliver it), RefundNotWritable if its refund cannot
    be written, FloatNotCovering if its operator's float cannot pay for its
    success (nothing is written)."""
    with transaction.atomic():
        # Under this lock no worker claims it: a claim skips locked rows and
        # stamps topup_requested_at before it calls the operator.
        recharge = Recharge.objects.select_for_update(no_key=True).get(pk=recharge_id)
        if recharge.status != Recharge.Status.PENDING:
            raise AlreadyFinal()
        if not resolvable(recharge):
            raise DeliveryInProgress()
        if not successful:
            _fail(recharge, Recharge.Failure.NOT_DELIVERED, resolved_by=resolved_by)
            return
        Recharge.objects.filter(pk=recharge.pk).update(
            status=Recharge.Status.SUCCESSFUL,
            operator_reference=operator_reference,
            completed_at=Now(),
            next_attempt_at=None,
            resolved_by=resolved_by,
        )
        _pay_commissions([recharge.pk])
        _draw_floats([recharge.pk])
        _record_events(Recharge.Status.SUCCESSFUL, [recharge.pk])


def _record_events(status: str, recharge_ids: list[int]) -> None:
    """Records the callback events of recharges this transaction has just made
    final: each event's data is `recharge_json` read after the update, the
    recharge exactly as GET shows it from now on (a statement's RETURNING
    would see the row before it)."""
    with connection.cursor() as cursor:
        # Only for sellers with a callback URL. Each of them is locked FOR KEY
        # SHARE now, in id order, as its events' foreign key would at commit,
        # after the job is queued: see the lock order above.
        cursor.execute(
            """
            SELECT r.seller_id, recharge_json(r.id)::text
              FROM recharges_recharge r
              JOIN callbacks_callbackendpoint e ON e.seller_id = r.seller_id
              JOIN sellers_seller s ON s.id = r.seller_id
             WHERE r.id = ANY(%s)
             ORDER BY s.id, r.id
               FOR KEY SHARE OF s
            """,
            [recharge_ids],
        )
        events = [(seller_id, json.loads(body)) for seller_id, body in cursor.fetchall()]
    if events:
        event_type = "recharge.succeeded" if status == Recharge.Status.SUCCESSFUL else "recharge.failed"
        record_events(event_type=event_type, events=events)
