"""The simulator's daily statement (docs/operators.md, "The daily statement"):
a CSV file per operator and Tehran day of every top-up it recorded."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from config.dates import business_today
from recharges.gateway import HttpGateway, StatementUnavailable
from tests.helpers.simulator import free_port

HEADER = "reference,msisdn,amount,product,status,operator_reference,recorded_at\n"


def test_the_statement_lists_the_days_top_ups_of_one_operator(simulator, gateway):
    gateway.top_up(reference="ref-1", number="+989121230001", amount=5_000, operator="mci")
    gateway.top_up(reference="ref-2", number="+989121239990", amount=6_000, operator="mci")  # declined
    gateway.top_up(reference="ref-3", number="+989351230001", amount=7_000, operator="irancell", product="pkg-1")
    today = business_today()

    lines = gateway.statement(operator="mci", day=today)

    assert [(line.reference, line.amount, line.status, line.product) for line in lines] == [
        ("ref-1", 5_000, "successful", None),
        ("ref-2", 6_000, "declined", None),
    ]
    assert lines[0].operator_reference and lines[0].operator_reference.startswith("SIM-")
    assert lines[1].operator_reference is None
    assert [line.product for line in gateway.statement(operator="irancell", day=today)] == ["pkg-1"]
    assert gateway.statement(operator="mci", day=today - timedelta(days=1)) == []


def test_the_statement_is_a_csv_file_with_a_header(simulator, gateway):
    gateway.top_up(reference="ref-1", number="+989121230001", amount=5_000, operator="mci")
    response = httpx.get(f"{simulator.base_url}/v1/statements/mci/{business_today().isoformat()}.csv")
    assert response.headers["content-type"].startswith("text/csv")
    header, line, end = response.text.split("\n")
    assert header == "reference,msisdn,amount,product,status,operator_reference,recorded_at"
    assert line.startswith("ref-1,+989121230001,5000,,successful,SIM-")
    assert end == ""
    assert httpx.get(f"{simulator.base_url}/v1/statements/mci/2026-13-01.csv").status_code == 404
    assert httpx.get(f"{simulator.base_url}/v1/statements/mci/today.csv").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        "reference,msisdn,amount\n",  # another header
        HEADER + "ref-1,+989121230001,5000,,charged,,2026-12-07T10:00:00.000+00:00\n",  # an unknown status
        HEADER + "ref-1,+989121230001,five,,successful,SIM-1,2026-12-07T10:00:00.000+00:00\n",  # no amount
        HEADER + "ref-1,+989121230001,5000,,successful\n",  # a short line
        HEADER + "R" * 65 + ",+989121230001,5000,,successful,SIM-1,2026-12-07T10:00:00.000+00:00\n",  # too long
    ],
)
def test_a_statement_not_in_the_documented_form_is_unavailable(body):
    with statement_server(body) as url:
        gateway = HttpGateway(url, connect_timeout=1, read_timeout=2)
        try:
            with pytest.raises(StatementUnavailable):
                gateway.statement(operator="mci", day=business_today())
        finally:
            gateway.close()


@contextmanager
def statement_server(body: str) -> Iterator[str]:
    """A real HTTP server on a port of the suite's range answering every GET with `body` as CSV."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
