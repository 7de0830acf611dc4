"""A hostile operator gateway: a real HTTP server that answers every top-up
and every status query "successful", but about another top-up than the one
it was sent: one field of the request (reference, msisdn, amount or product)
changed in its answer."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers.simulator import PORTS

WRONG = {
    "reference": lambda sent: "0f0f0f0f-0000-4000-8000-000000000009",
    "msisdn": lambda sent: "+989121230000",
    "amount": lambda sent: sent["amount"] + 1,
    "product": lambda sent: "data-1gb",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "HostileOperator"

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path))
        self.server.sent[sent["reference"]] = sent
        self._answer(201, sent)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path))
        self._answer(200, self.server.sent[self.path.rsplit("/", 1)[1]])

    def _answer(self, status: int, sent: dict) -> None:
        wrong = self.server.wrong
        answer = {**sent, "status": "successful", "operator_reference": "HOSTILE-1", wrong: WRONG[wrong](sent)}
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


class HostileOperator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, wrong: str):
        super().__init__(("127.0.0.1", port), _Handler)
        self.wrong = wrong
        self.sent: dict[str, dict] = {}  # by reference: what the platform sent
        self.requests: list[tuple[str, str]] = []  # (method, path), in arrival order

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


@contextmanager
def hostile_operator(wrong: str) -> Iterator[HostileOperator]:
    """A running HostileOperator that changes the field `wrong` (a key of WRONG) in every answer."""
    for port in PORTS:
        try:
            server = HostileOperator(port, wrong)
        except OSError:
            continue
        break
    else:
        raise RuntimeError(f"no free port in {PORTS}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
