"""HttpGateway against a real HTTP server that answers badly: anything it
cannot trust is "unknown", never an exception and never a definite outcome."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recharges.gateway import HttpGateway, gateway_from_settings
from tests.helpers.simulator import PORTS, bound_socket

ASKED = {"reference": "7", "number": "+989121234567", "amount": 1_000}  # what a status query names
TOPUP = {**ASKED, "operator": "mci"}
# An answer names the top-up it is about: reference, msisdn, amount and product as sent.
ABOUT = {"reference": "7", "msisdn": "+989121234567", "amount": 1_000, "product": None}
SUCCESSFUL = {**ABOUT, "status": "successful", "operator_reference": "OP-1", "message": "ok"}


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers every request with the server's `answer`: (status, body bytes), or None to drop the connection."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.server.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        answer = self.server.answer
        if answer is None:
            self.close_connection = True
            return
        status, body = answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


def scripted_server() -> ThreadingHTTPServer:
    for port in PORTS:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), ScriptedHandler)
        except OSError:
            continue
        server.daemon_threads = True
        server.received = []  # the JSON body of every POST
        return server
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture
def scripted():
    server = scripted_server()
    # A short poll: shutdown() waits out one poll interval (0.5 s by default), at every test's end.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    gateway = HttpGateway(f"http://127.0.0.1:{server.server_port}", connect_timeout=1, read_timeout=2)

    def answer(status: int | None, body: object = b"") -> HttpGateway:
        encoded = body if isinstance(body, bytes) else json.dumps(body).encode()
        server.answer = None if status is None else (status, encoded)
        return gateway

    answer.url = f"http://127.0.0.1:{server.server_port}"
    answer.received = server.received
    yield answer
    gateway.close()
    server.shutdown()
    server.server_close()


def test_a_well_formed_success_is_successful(scripted):
    answer = scripted(201, SUCCESSFUL).top_up(**TOPUP)

    assert (answer.outcome, answer.operator_reference, answer.message) == ("successful", "OP-1", "ok")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"Internal Server Error"),
        (502, b"<html>Bad Gateway</html>"),
        (503, {"error": {"code": "unavailable", "message": "later"}}),
        (200, b"not json"),
        (200, b"[1, 2]"),
        (200, {"reference": "7"}),
        (200, {**SUCCESSFUL, "status": "pending"}),
        (200, {**SUCCESSFUL, "operator_reference": None}),
        (200, {**SUCCESSFUL, "operator_reference": ""}),
        (200, {**SUCCESSFUL, "reference": "8"}),
        (200, {**SUCCESSFUL, "msisdn": "+989121234568"}),
        (200, {**SUCCESSFUL, "amount": 1_001}),
        (200, {**SUCCESSFUL, "amount": "1000"}),
        (200, {**SUCCESSFUL, "amount": 1_000.0}),
        (200, {**SUCCESSFUL, "product": "data-1gb"}),
        (200, {key: value for key, value in SUCCESSFUL.items() if key != "product"}),
        (200, {key: value for key, value in SUCCESSFUL.items() if key != "msisdn"}),
        (200, {**SUCCESSFUL, "status": "declined", "operator_reference": None, "amount": 2_000}),
        (202, SUCCESSFUL),
        (400, {"error": {"code": "invalid_request", "message": "bad"}}),
        (409, {"error": {"code": "reference_conflict", "message": "reused"}}),
        (None, b""),
    ],
    ids=lambda value: str(value)[:30],
)
def test_an_answer_it_cannot_trust_is_unknown(scripted, status, body):
    gateway = scripted(status, body)

    assert gateway.top_up(**TOPUP).outcome == "unknown"
    assert gateway.status(**ASKED).outcome == "unknown"


def test_a_404_is_not_found_only_when_the_gateway_says_so(scripted):
    assert scripted(404, b"<html>Not Found</html>").status(**ASKED).outcome == "unknown"
    assert scripted(404, {"error": {"code": "no_such_endpoint"}}).status(**ASKED).outcome == "unknown"
    answer = scripted(404, {"error": {"code": "topup_not_found", "message": "none"}}).status(**ASKED)
    assert (answer.outcome, answer.message) == ("not_found", "none")


def test_a_declined_status_is_declined(scripted):
    body = {**ABOUT, "status": "declined", "operator_reference": None, "message": "no"}

    assert scripted(200, body).status(**ASKED).outcome == "declined"


def test_a_refused_connection_is_a_top_up_not_sent_and_an_unknown_status():
    with bound_socket() as not_listening:
        gateway = HttpGateway(f"http://127.0.0.1:{not_listening.getsockname()[1]}", connect_timeout=1, read_timeout=1)

        answer = gateway.top_up(**TOPUP)

        assert answer.outcome == "not_sent"
        assert "ConnectError" in answer.message
        assert gateway.status(**ASKED).outcome == "unknown"
        gateway.close()


def test_gateway_from_settings_talks_to_the_configured_gateway(scripted, settings):
    scripted(201, SUCCESSFUL)
    settings.OPERATOR_GATEWAY_URL = scripted.url
    gateway = gateway_from_settings()

    assert gateway.top_up(**TOPUP).operator_reference == "OP-1"
    gateway.close()


def test_it_sends_the_product_and_wants_it_named_in_the_answer(scripted):
    """The protocol names the product (null for airtime) so that the answer can echo it."""
    gateway = scripted(201, SUCCESSFUL)

    assert gateway.top_up(**TOPUP).outcome == "successful"
    assert gateway.top_up(**TOPUP, product="data-1gb").outcome == "unknown"  # the answer names no product

    assert scripted.received == [{**ABOUT, "operator": "mci"}, {**ABOUT, "operator": "mci", "product": "data-1gb"}]
