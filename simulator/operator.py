"""The simulated operator's decisions, apart from any HTTP server: what a
top-up request or a status query gets, per the sandbox table."""

import random
import re
from dataclasses import dataclass

from simulator.sandbox import FLAKY_FAILURES, Behaviour, behaviour_for, final_status
from simulator.store import Received, Store, TopUp

_REFERENCE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_MSISDN = re.compile(r"\+[1-9][0-9]{6,14}")
_OPERATOR = re.compile(r"[a-z0-9_\-]{1,32}")
_PRODUCT = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_WANTED = {
    "reference": "1-64 letters, digits, '_' or '-'",
    "msisdn": "a number in E.164 form, e.g. +989121234567",
    "amount": "an integer from 1 to 10^15 (rials)",
    "operator": "an operator code, e.g. mci",
    "product": "null (airtime) or a product code: 1-64 letters, digits, '_' or '-'",
}
_MESSAGES = {
    "successful": "topped up",
    "declined": "the operator declined the top-up",
    "rejected_number": "the number cannot be topped up by this operator",
}


@dataclass(frozen=True)
class Config:
    latency: float  # seconds before each answer
    error_rate: float  # share of /v1 requests answered 503 (after a top-up is recorded)
    hang_seconds: float  # how long a "timing out" request is held before the connection is closed


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict | None  # None: hold the request, then close the connection without an answer


HOLD = Answer(0, None)


class SimulatedOperator:
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config

    async def top_up(self, body: object) -> Answer:
        problems = _topup_problems(body)
        if problems or not isinstance(body, dict):
            return _error(400, "invalid_request", "invalid top-up request", problems)
        reference, msisdn = body["reference"], body["msisdn"]
        behaviour = behaviour_for(msisdn)
        received = await self.store.receive_topup(
            reference=reference,
            msisdn=msisdn,
            amount=body["amount"],
            operator=body["operator"],
            product=body.get("product"),  # absent: airtime, as null
            status=None if behaviour is Behaviour.HANG_UNRECORDED else final_status(behaviour),
        )
        topup = received.topup
        if received.conflict:
            assert topup is not None  # a conflict is with the recorded top-up
            message = f"reference {reference!r} was already used for a different top-up"
            return _error(409, "reference_conflict", message, {"topup": topup.as_json()})
        if behaviour is Behaviour.HANG_UNRECORDED or (behaviour is Behaviour.HANG_RECORDED and received.created):
            return HOLD
        if self._fails(received):
            return _unavailable()
        assert topup is not None  # recorded: only HANG_UNRECORDED records nothing, and it returned
        return Answer(201 if received.created else 200, _topup_body(topup))

    async def status(self, reference: str) -> Answer:
        received = await self.store.receive_status_query(reference=reference)
        if self._fails(received):
            return _unavailable()
        if received.topup is None:
            return _error(404, "topup_not_found", f"no top-up with reference {reference!r}")
        return Answer(200, _topup_body(received.topup))

    def _fails(self, received: Received) -> bool:
        flaky = received.topup is not None and behaviour_for(received.topup.msisdn) is Behaviour.FLAKY
        if flaky and received.requests_seen <= FLAKY_FAILURES:
            return True
        return random.random() < self.config.error_rate


def _topup_problems(body: object) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    checks = {
        "reference": lambda v: isinstance(v, str) and _REFERENCE.fullmatch(v),
        "msisdn": lambda v: isinstance(v, str) and _MSISDN.fullmatch(v),
        "amount": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10**15,
        "operator": lambda v: isinstance(v, str) and _OPERATOR.fullmatch(v),
        "product": lambda v: v is None or (isinstance(v, str) and _PRODUCT.fullmatch(v)),
    }
    return {field: _WANTED[field] for field, check in checks.items() if not check(body.get(field))}


def _topup_body(topup: TopUp) -> dict:
    return {**topup.as_json(), "message": _MESSAGES[topup.status]}


def _error(status: int, code: str, message: str, details: dict | None = None) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message, "details": details or {}}})


def _unavailable() -> Answer:
    return _error(503, "unavailable", "temporarily unavailable, retry later")
