"""The simulator's HTTP protocol (docs/operators.md): a threading HTTP/1.1
server with keep-alive; each request is handled in its own thread, so
hundreds of requests can wait out their simulated latency at once."""

import json
import random
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from simulator.sandbox import FLAKY_FAILURES, Behaviour, behaviour_for, final_status
from simulator.store import Received, Store, TopUp

_TOPUPS = "/v1/topups"
_REFERENCE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_MSISDN = re.compile(r"\+[1-9][0-9]{6,14}")
_OPERATOR = re.compile(r"[a-z0-9_\-]{1,32}")
_MAX_BODY = 16 * 1024

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


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True  # a held ("timing out") request never delays a shutdown
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], *, store: Store, config: Config):
        super().__init__(address, Handler)
        self.store = store
        self.config = config


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OperatorSimulator/1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't let Nagle hold the second
    server: SimulatorServer

    def do_POST(self) -> None:
        if urlsplit(self.path).path != _TOPUPS:
            self._error(HTTPStatus.NOT_FOUND, "no_such_endpoint", "no such endpoint")
            return
        request = self._read_topup_request()
        if request is not None:
            self._top_up(*request)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(_TOPUPS + "/"):
            self._status(unquote(path[len(_TOPUPS) + 1 :]))
        elif path == "/_sim/stats":
            self._send(HTTPStatus.OK, self.server.store.stats())
        elif path == "/_sim/topups":
            self._send(HTTPStatus.OK, {"results": self.server.store.all_references()})
        else:
            self._error(HTTPStatus.NOT_FOUND, "no_such_endpoint", "no such endpoint")

    def log_message(self, format: str, *args) -> None:
        """Silent: a log line per request would cost more than the request."""

    def _top_up(self, reference: str, msisdn: str, amount: int, operator: str) -> None:
        behaviour = behaviour_for(msisdn)
        received = self.server.store.receive_topup(
            reference=reference,
            msisdn=msisdn,
            amount=amount,
            operator=operator,
            status=None if behaviour is Behaviour.HANG_UNRECORDED else final_status(behaviour),
        )
        topup = received.topup
        if topup is not None and (topup.msisdn, topup.amount, topup.operator) != (msisdn, amount, operator):
            self._answer_later(HTTPStatus.CONFLICT, _conflict(topup))
        elif behaviour is Behaviour.HANG_UNRECORDED or (behaviour is Behaviour.HANG_RECORDED and received.created):
            self._hang()
        elif self._fails(received):
            self._answer_later(HTTPStatus.SERVICE_UNAVAILABLE, _unavailable())
        else:
            self._answer_later(HTTPStatus.CREATED if received.created else HTTPStatus.OK, _topup_body(topup))

    def _status(self, reference: str) -> None:
        received = self.server.store.receive_status_query(reference=reference)
        if self._fails(received):
            self._answer_later(HTTPStatus.SERVICE_UNAVAILABLE, _unavailable())
        elif received.topup is None:
            message = f"no top-up with reference {reference!r}"
            self._answer_later(HTTPStatus.NOT_FOUND, {"error": {"code": "topup_not_found", "message": message, "details": {}}})
        else:
            self._answer_later(HTTPStatus.OK, _topup_body(received.topup))

    def _fails(self, received: Received) -> bool:
        flaky = received.topup is not None and behaviour_for(received.topup.msisdn) is Behaviour.FLAKY
        if flaky and received.requests_seen <= FLAKY_FAILURES:
            return True
        return random.random() < self.server.config.error_rate

    def _read_topup_request(self) -> tuple[str, str, int, str] | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self.close_connection = True  # the body's end is unknown: the connection cannot be reused
            self._error(HTTPStatus.BAD_REQUEST, "invalid_request", f"a Content-Length of at most {_MAX_BODY} is required")
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "invalid_request", "the body is not JSON")
            return None
        problems = _topup_problems(body)
        if problems:
            self._error(HTTPStatus.BAD_REQUEST, "invalid_request", "invalid top-up request", problems)
            return None
        return body["reference"], body["msisdn"], body["amount"], body["operator"]

    def _hang(self) -> None:
        time.sleep(self.server.config.hang_seconds)
        self.close_connection = True

    def _answer_later(self, status: HTTPStatus, body: dict) -> None:
        time.sleep(self.server.config.latency)
        self._send(status, body)

    def _error(self, status: HTTPStatus, code: str, message: str, details: dict | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message, "details": details or {}}})

    def _send(self, status: HTTPStatus, body: dict) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting; nothing to tell it


def _topup_problems(body: object) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    checks = {
        "reference": lambda v: isinstance(v, str) and _REFERENCE.fullmatch(v),
        "msisdn": lambda v: isinstance(v, str) and _MSISDN.fullmatch(v),
        "amount": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10**15,
        "operator": lambda v: isinstance(v, str) and _OPERATOR.fullmatch(v),
    }
    wanted = {
        "reference": "1-64 letters, digits, '_' or '-'",
        "msisdn": "a number in E.164 form, e.g. +989121234567",
        "amount": "an integer from 1 to 10^15 (rials)",
        "operator": "an operator code, e.g. mci",
    }
    return {field: wanted[field] for field, check in checks.items() if not check(body.get(field))}


def _topup_body(topup: TopUp) -> dict:
    return {**topup.as_json(), "message": _MESSAGES[topup.status]}


def _conflict(topup: TopUp) -> dict:
    message = f"reference {topup.reference!r} was already used for a different top-up"
    return {"error": {"code": "reference_conflict", "message": message, "details": {"topup": topup.as_json()}}}


def _unavailable() -> dict:
    return {"error": {"code": "unavailable", "message": "temporarily unavailable, retry later", "details": {}}}
