"""The HTTP client for an operator gateway speaking the protocol of
docs/operators.md (the simulator's, and any real gateway's adapter).

`top_up` and `status` never raise for trouble on the way: a timeout, a
refused or dropped connection, a 5xx or an answer this client cannot read is
the outcome "unknown" (the top-up may or may not have happened), and the
caller asks for the status later instead of sending the top-up again. Only a
well-formed answer that names its outcome, about the very top-up that was
sent (the same reference, number, amount and product), is definite: an answer
about any other top-up says nothing about this one, whoever got it wrong.

Each calling thread has its own `httpx.Client`, a pool of one keep-alive
connection: one client shared by a worker's 32 threads spent about a third of
the worker's CPU on its pool's bookkeeping and lock (py-spy, draining a
backlog), more than on the calls.
"""

import csv
import io
import threading
from dataclasses import dataclass
from datetime import date
from functools import partial
from urllib.parse import quote

import httpx
from django.conf import settings

from config.constants import MAX_AMOUNT

TOPUP_OUTCOMES = ("successful", "declined", "rejected_number")
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class TopUpAnswer:
    outcome: str  # "successful" | "declined" | "rejected_number" | "unknown" | "not_sent"
    operator_reference: str | None = None
    message: str = ""


@dataclass(frozen=True)
class StatusAnswer:
    outcome: str  # "successful" | "not_found" | "declined" | "rejected_number" | "unknown"
    operator_reference: str | None = None
    message: str = ""


@dataclass(frozen=True)
class StatementLine:
    """One top-up of an operator's daily statement, as the operator recorded it."""

    reference: str
    msisdn: str
    amount: int
    product: str | None
    status: str  # "successful" | "declined" | "rejected_number"
    operator_reference: str | None


class StatementUnavailable(Exception):
    """Raised when the gateway gives no readable statement for the day (an
    error, a timeout, a file not in the documented form): nothing can be
    settled from it, so the settlement is tried again later."""


class GatewayUnreachable(StatementUnavailable):
    """No answer at all (refused, timed out): no other statement will come now either."""


STATEMENT_COLUMNS = ["reference", "msisdn", "amount", "product", "status", "operator_reference", "recorded_at"]
# A day's statement of a busy operator is tens of megabytes.
STATEMENT_TIMEOUT = httpx.Timeout(120, connect=5)


class HttpGateway:
    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float):
        self._new_client = partial(
            httpx.Client,
            base_url=base_url,
            # Made once: a client that makes its own spends ~30 ms on it (the CA
            # bundle), which delayed each thread's first call.
            verify=httpx.create_ssl_context(),
            # Waiting for the pooled connection is bounded too: a request that
            # never got one was never sent, and its caller must not wait forever.
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout + read_timeout
            ),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()

    @property
    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
            with self._clients_lock:
                self._clients.append(client)
        return client

    def top_up(
        self, *, reference: str, number: str, amount: int, operator: str, product: str | None = None
    ) -> TopUpAnswer:
        """Asks for the top-up; `product` None is airtime."""
        sent = {"reference": reference, "msisdn": number, "amount": amount, "product": product}
        body = {**sent, "operator": operator}
        try:
            response = self._client.post("/v1/topups", json=body)
        except NOT_SENT as error:
            # No connection was made (or none was free): the operator never saw
            # this request, so it may be sent again.
            return TopUpAnswer("not_sent", message=_describe(error))
        except httpx.HTTPError as error:
            return TopUpAnswer("unknown", message=_describe(error))
        outcome, operator_reference, message = _read_topup(response, sent)
        return TopUpAnswer(outcome, operator_reference, message)

    def status(self, *, reference: str, number: str, amount: int, product: str | None = None) -> StatusAnswer:
        """Asks for the state of the top-up sent earlier with these fields."""
        sent = {"reference": reference, "msisdn": number, "amount": amount, "product": product}
        try:
            response = self._client.get(f"/v1/topups/{quote(reference, safe='')}")
        except httpx.HTTPError as error:
            return StatusAnswer("unknown", message=_describe(error))
        if response.status_code == 404 and _error_code(response) == "topup_not_found":
            return StatusAnswer("not_found", message=_error_message(response))
        outcome, operator_reference, message = _read_topup(response, sent)
        return StatusAnswer(outcome, operator_reference, message)

    def statement(self, *, operator: str, day: date) -> list[StatementLine]:
        """The operator's statement of `day` (docs/operators.md, "The daily
        statement"); raises StatementUnavailable unless it is whole and readable."""
        try:
            response = self._client.get(
                f"/v1/statements/{quote(operator)}/{day.isoformat()}.csv", timeout=STATEMENT_TIMEOUT
            )
        except httpx.HTTPError as error:
            raise GatewayUnreachable(_describe(error)) from error
        if response.status_code != 200:
            raise StatementUnavailable(f"HTTP {response.status_code}: {_error_message(response)}")
        rows = csv.reader(io.StringIO(response.text))
        if next(rows, None) != STATEMENT_COLUMNS:
            raise StatementUnavailable("the statement does not start with its documented header")
        try:
            return [_statement_line(row) for row in rows]
        except (ValueError, IndexError) as error:
            raise StatementUnavailable(f"an unreadable statement line: {error}") from error

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
        self._local = threading.local()


def gateway_from_settings() -> HttpGateway:
    return HttpGateway(
        settings.OPERATOR_GATEWAY_URL,
        connect_timeout=settings.OPERATOR_CONNECT_TIMEOUT,
        read_timeout=settings.OPERATOR_READ_TIMEOUT,
    )


def _statement_line(row: list[str]) -> StatementLine:
    reference, msisdn, amount, product, status, operator_reference, _ = row
    if status not in TOPUP_OUTCOMES:
        raise ValueError(f"status {status!r}")
    # The protocol's bounds, which a settlement case's columns hold.
    if not 1 <= len(reference) <= 64 or len(msisdn) > 16 or len(operator_reference) > 128:
        raise ValueError(f"a field out of the protocol's bounds in {row!r}"[:300])
    if any("\x00" in field for field in row):  # PostgreSQL's text cannot hold it
        raise ValueError(f"a NUL byte in {row!r}"[:300])
    if not 1 <= int(amount) <= MAX_AMOUNT:
        raise ValueError(f"amount {amount!r} out of the protocol's bounds")
    return StatementLine(reference, msisdn, int(amount), product or None, status, operator_reference or None)


def _read_topup(response: httpx.Response, sent: dict[str, object]) -> tuple[str, str | None, str]:
    """(outcome, operator reference, message) from an answer that should carry the state of the top-up `sent`."""
    if response.status_code not in (200, 201):
        return "unknown", None, f"HTTP {response.status_code}: {_error_message(response)}"
    body = _json(response)
    if not isinstance(body, dict):
        return "unknown", None, f"HTTP {response.status_code} without a JSON object: {response.text[:200]!r}"
    status = body.get("status")
    if status not in TOPUP_OUTCOMES:
        return "unknown", None, f"HTTP {response.status_code} without a known status: {response.text[:200]!r}"
    for field, value in sent.items():
        # The type too: 1000.0 or True is not the amount 1000, and a missing field is not null.
        if field not in body or (body[field], type(body[field])) != (value, type(value)):
            return "unknown", None, f"an answer about {field} {body.get(field)!r}, not {value!r}"
    operator_reference = body.get("operator_reference")
    if status == "successful" and not (isinstance(operator_reference, str) and operator_reference):
        return "unknown", None, "a successful top-up without an operator reference"
    message = body.get("message")
    return status, operator_reference if status == "successful" else None, message if isinstance(message, str) else ""


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _error_code(response: httpx.Response) -> object:
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _error_message(response: httpx.Response) -> str:
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return response.text[:200]


def _describe(error: httpx.HTTPError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
