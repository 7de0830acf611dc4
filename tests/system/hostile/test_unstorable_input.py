"""Input PostgreSQL cannot store, through the real HTTP stack (issue 18,
item 8): a NUL or a lone surrogate in any string that reaches a query, and
days whose neighbours are off the calendar. Each was a 500; each is a 400 (or
the page with the form's error, or, for a session cookie, no session), with
nothing written."""

import re

import pytest
import requests

from sellers.services import create_seller
from tests.helpers.api import nothing_written
from tests.helpers.sellers import fund
from tests.helpers.system import live_server
from tests.portal.helpers import PASSWORD, with_password

ITEM = '{"phone_number": "09121234567", "amount": 5000, "operator": %s}'
JSON_TYPES = ["application/json", "application/json; charset=latin-1"]
EDGE_DAYS = [
    "/portal/statement/?date_from=0001-01-01",
    "/portal/statement/?date_to=9999-12-31",
    "/portal/statement.csv?date_from=0001-01-01",
    "/portal/statement.csv?date_to=9999-12-31",
    "/portal/recharges/?date_from=0001-01-01",
    "/portal/recharges/?date_to=9999-12-31",
]
# A session key of a valid length with a NUL: gunicorn refuses a raw NUL in a
# header; a quoted cookie's octal escape reaches Django, which unquotes it.
NUL_SESSIONS = [
    (b"sessionid=abcdefghij\x00klmnopqrst", 400),
    (b'sessionid="abcdefghij\\000klmnopqrst"', 302),
]


@pytest.fixture(scope="module")
def api(django_db_setup):
    """One server for the module: it serves whatever each test's committed rows are."""
    with live_server(workers=2) as server:
        yield server


@pytest.fixture
def seller(transactional_db, staff_user):
    seller, token = create_seller(name="Edge shop", username="edge-shop")
    fund(seller, 100_000, staff_user)
    with_password(seller.user)
    seller.token = token
    return seller


@pytest.mark.parametrize("operator", ['"\\u0000"', '"\\ud800"', '"mci\\u0000"'])
def test_a_nul_or_a_lone_surrogate_in_a_sale_is_a_400(api, seller, operator):
    headers = {"Authorization": f"Token {seller.token}"}
    bodies = {"recharges/": ITEM % operator, "recharge-batches/": '{"items": [%s]}' % (ITEM % operator)}
    with nothing_written():
        for path, body in bodies.items():
            for content_type in JSON_TYPES:
                for key in (None, f"unstorable-{len(path)}-{len(content_type)}"):
                    sent = {**headers, "Content-Type": content_type, **({"Idempotency-Key": key} if key else {})}
                    response = requests.post(f"{api.url}/api/v1/{path}", data=body.encode(), headers=sent, timeout=30)
                    assert response.status_code == 400, (path, content_type, response.text)
                    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("cookie, status", NUL_SESSIONS)
@pytest.mark.parametrize("path", ["/admin/", "/portal/"])
def test_a_nul_in_the_session_cookie_is_no_session(api, transactional_db, path, cookie, status):
    """Django ignores a session key it cannot find; one PostgreSQL cannot even
    be asked about is the same: the visitor is sent to log in (a 400 instead
    would shut a browser holding such a cookie out of the login page too)."""
    with nothing_written():
        response = requests.get(f"{api.url}{path}", headers={"Cookie": cookie}, allow_redirects=False, timeout=30)
    assert response.status_code == status, response.text[:300]
    if status == 302:
        assert response.headers["Location"] == f"{path}login/?next={path}"


def test_portal_days_at_the_calendars_edges_are_form_errors(api, seller):
    browser = requests.Session()
    login = browser.get(f"{api.url}/portal/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    logged_in = browser.post(
        f"{api.url}/portal/login/",
        data={"username": "edge-shop", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{api.url}/portal/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert logged_in.status_code == 302, logged_in.text[:500]
    with nothing_written():
        for path in EDGE_DAYS:
            response = browser.get(f"{api.url}{path}", timeout=30)
            assert response.status_code in (200, 400), (path, response.status_code)
            assert "1900-01-01" in response.text, (path, response.text[:500])
    # The last day the form takes still works.
    assert browser.get(f"{api.url}/portal/statement.csv?date_to=9999-12-30", timeout=30).status_code == 200
