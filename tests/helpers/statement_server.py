"""A real HTTP server that hands out operator statements the test writes
(the gateway's `GET /v1/statements/{operator}/{day}.csv`): a day nobody
wrote is the header alone, as the simulator's empty day."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from recharges.gateway import STATEMENT_COLUMNS
from tests.helpers.simulator import free_port

HEADER = ",".join(STATEMENT_COLUMNS) + "\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "StatementServer"

    def do_GET(self) -> None:
        operator, day = self.path.removeprefix("/v1/statements/").removesuffix(".csv").split("/")
        self.server.asked.append((operator, day))
        body = (HEADER + "".join(self.server.lines.get((operator, day), []))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


class StatementServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), _Handler)
        self.lines: dict[tuple[str, str], list[str]] = {}
        self.asked: list[tuple[str, str]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, operator: str, day: date, *, reference: str, msisdn: str, amount: int | str, status: str) -> None:
        operator_reference = "OP-REVIEW" if status == "successful" else ""
        line = f"{reference},{msisdn},{amount},,{status},{operator_reference},2026-12-06T10:16:34.396+00:00\n"
        self.lines.setdefault((operator, day.isoformat()), []).append(line)


@contextmanager
def statement_server() -> Iterator[StatementServer]:
    server = StatementServer(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
