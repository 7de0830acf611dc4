"""Requests at the edges of HTTP (issue 10, items 9 and 11): chunked bodies
are read; errors of the HTTP server itself, of CSRF, and of the admin's list
filters are the contract's JSON (the admin: at least never a 500)."""

import json
import socket

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from config.views import csrf_failure
from sellers.services import create_seller
from tests.helpers.sellers import fund
from tests.helpers.system import live_server


def raw_http(port: int, request: bytes) -> tuple[int, str, bytes]:
    """Sends bytes as they are; returns (status, content type, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


def assert_json_error(status_and_body, status: int) -> dict:
    got, content_type, body = status_and_body
    assert got == status, body[:300]
    assert content_type == "application/json", content_type
    error = json.loads(body)["error"]
    assert set(error) >= {"code", "message"}
    return error


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_read(staff_user):
    seller, token = create_seller(name="Chunky", username="chunky")
    fund(seller, 100_000, staff_user)
    body = json.dumps({"phone_number": "09121234567", "amount": 5000}).encode()
    with live_server(workers=2) as api:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        # A generator body: requests sends it with Transfer-Encoding: chunked, in pieces.
        sale = requests.post(
            f"{api.url}/api/v1/recharges/", data=iter([body[:10], body[10:]]), headers=headers, timeout=30
        )
        assert sale.request.headers.get("Transfer-Encoding") == "chunked"
        assert sale.status_code == 201, sale.text
        assert sale.json()["balance_after"] == 95_000
        # Through DRF's parser too (a keyed credit request).
        credit = requests.post(
            f"{api.url}/api/v1/credit-requests/",
            data=iter([b'{"amount": ', b"7000}"]),
            headers={**headers, "Idempotency-Key": "chunked-1"},
            timeout=30,
        )
        assert credit.status_code == 201, credit.text
        assert credit.json()["amount"] == 7000
        # Oversized (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB) is refused as a sized body is.
        big = (b'{"amount": 1, "x": "' + b"a" * 3_000_000 + b'"}',)
        refused = requests.post(f"{api.url}/api/v1/credit-requests/", data=iter(big), headers=headers, timeout=30)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "validation_error"


@pytest.mark.django_db(transaction=True)
def test_errors_gunicorn_answers_itself_are_json():
    with live_server(workers=2) as api:
        too_long = b"GET /api/v1/me/?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        assert_json_error(raw_http(api.port, too_long), 414)
        big_header = b"GET /api/v1/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        assert_json_error(raw_http(api.port, big_header), 431)
        many_headers = (
            b"GET /api/v1/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"".join(b"X-%d: 1\r\n" % number for number in range(150))
            + b"\r\n"
        )
        assert_json_error(raw_http(api.port, many_headers), 431)
        assert_json_error(raw_http(api.port, b"NOT HTTP AT ALL\r\n\r\n"), 400)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/credits/creditrequest/?status__exact=%00",
        "/admin/credits/creditrequest/?status=%00",
        "/admin/sellers/seller/?name=%00",
        "/admin/ledger/ledgerentry/?kind__exact=%00",
        "/admin/ledger/balanceadjustment/?reason=%00",
        "/admin/auth/user/?username=%00",
    ],
)
def test_a_nul_in_an_admin_list_filter_is_400_not_500(path):
    admin = Client(raise_request_exception=False)
    admin.force_login(get_user_model().objects.create_superuser(username="nul-boss", password="pw-for-tests-only"))
    assert admin.get(path).status_code == 400


def test_a_csrf_refusal_on_an_api_path_is_json():
    response = csrf_failure(RequestFactory().post("/api/v1/credit-requests/"), reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "permission_denied"


@pytest.mark.django_db
def test_the_admin_keeps_its_csrf_page():
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
