"""The portal's pages through the real middleware stack: selling once per
form, statement pages and CSV, top-up requests, token rotation, languages."""

import csv
import io
import json
import re

import pytest
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from ledger.models import LedgerEntry
from portal.selectors import business_today
from recharges.floats import record_prepayment
from recharges.models import Recharge
from recharges.services import sell_recharge
from sellers.services import issue_api_token


def _csrf(client) -> str:
    return client.cookies["csrftoken"].value


def _sale_key(client) -> str:
    page = client.get("/portal/recharges/").content.decode()
    return re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)


@pytest.mark.django_db
def test_the_same_form_sells_once(seller_a, portal_client):
    client = portal_client(seller_a.user)
    key = _sale_key(client)
    form = {
        "phone_number": "0912 123 4567",
        "amount": "25000",
        "idempotency_key": key,
        "csrfmiddlewaretoken": _csrf(client),
    }
    first = client.post("/portal/recharges/", form)
    second = client.post("/portal/recharges/", form)  # a double click, or the browser re-sending the POST
    assert (first.status_code, first["Location"]) == (302, "/portal/recharges/")
    assert (second.status_code, second["Location"]) == (302, "/portal/recharges/")
    seller_a.refresh_from_db()
    assert seller_a.balance == 1_000_000 - 25_000
    assert Recharge.objects.filter(seller=seller_a).count() == 1
    assert LedgerEntry.objects.filter(seller=seller_a, kind="recharge").count() == 1
    page = client.get("/portal/recharges/").content.decode()
    assert '<td class="num phone">0912 123 4567</td>' in page
    assert _sale_key(client) != key  # the next form sells anew


@pytest.mark.django_db
def test_a_refused_sale_says_why_and_writes_nothing(seller_a, portal_client):
    client = portal_client(seller_a.user)
    form = {
        "phone_number": "09121234567",
        "amount": "1000001",
        "idempotency_key": _sale_key(client),
        "csrfmiddlewaretoken": _csrf(client),
    }
    page = client.post("/portal/recharges/", form, follow=True).content.decode()
    assert "Not sold" in page
    seller_a.refresh_from_db()
    assert seller_a.balance == 1_000_000
    assert not Recharge.objects.filter(seller=seller_a).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "phone, amount, error",
    [
        ("12345", "5000", "Iranian mobile number"),
        ("09121234567", "0", "greater than or equal to 1"),
        ("09121234567", "5.5", "whole number"),
    ],
)
def test_invalid_sale_input_is_shown_on_the_form(phone, amount, error, seller_a, portal_client):
    client = portal_client(seller_a.user)
    form = {
        "phone_number": phone,
        "amount": amount,
        "idempotency_key": _sale_key(client),
        "csrfmiddlewaretoken": _csrf(client),
    }
    response = client.post("/portal/recharges/", form)
    assert response.status_code == 400
    assert error in response.content.decode()
    seller_a.refresh_from_db()
    assert seller_a.balance == 1_000_000


@pytest.mark.django_db
def test_statement_pages_walk_the_whole_ledger(seller_a, portal_client):
    for n in range(120):
        assert sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=100 + n).status_code == 201
    client = portal_client(seller_a.user)
    seen: list[int] = []
    url: str | None = "/portal/statement/"
    while url:
        page = client.get(url).content.decode()
        seen += [int(n) for n in re.findall(r'<tr><td class="num">(\d+)</td>', page)]
        older = re.search(r'href="\?([^"]*before=\d+)" id="older"', page)
        url = "/portal/statement/?" + older.group(1).replace("&amp;", "&") if older else None
    assert seen == list(range(121, 0, -1))  # 120 sales and the funding credit, newest first, once each
    newer = client.get("/portal/statement/?before=71").content.decode()
    back = re.search(r'href="\?([^"]*after=\d+)" id="newer"', newer).group(1).replace("&amp;", "&")
    assert [
        int(n)
        for n in re.findall(
            r'<tr><td class="num">(\d+)</td>', client.get("/portal/statement/?" + back).content.decode()
        )
    ] == list(range(120, 70, -1))


@pytest.mark.django_db
def test_statement_filters_by_kind(seller_a, portal_client):
    sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=700)
    page = portal_client(seller_a.user).get("/portal/statement/?kind=credit").content.decode()
    assert re.findall(r'<tr><td class="num">(\d+)</td>', page) == ["1"]


@pytest.mark.django_db
def test_statement_csv_matches_the_api(seller_a, portal_client):
    sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=700)
    sell_recharge(seller_id=seller_a.pk, phone_number="+989351234567", amount=300)
    response = portal_client(seller_a.user).get("/portal/statement.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = response.getvalue().decode("utf-8")
    assert not body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body)))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=seller_a.user)}")
    entries = api.get("/api/v1/transactions/").json()["results"]
    assert body.splitlines()[0] == "sequence,created_at,kind,amount,balance_after,reference_type,reference_id"
    assert [
        [
            row["created_at"],
            row["kind"],
            int(row["amount"]),
            int(row["balance_after"]),
            row["reference_type"],
            int(row["reference_id"]),
        ]
        for row in rows
    ] == [
        [e["created_at"], e["kind"], e["amount"], e["balance_after"], e["reference"]["type"], e["reference"]["id"]]
        for e in reversed(entries)
    ]
    assert [row["sequence"] for row in rows] == ["1", "2", "3"]


@pytest.mark.django_db
def test_invalid_filters_are_shown_not_failed(seller_a, portal_client):
    client = portal_client(seller_a.user)
    response = client.get("/portal/statement/?date_from=2026-02-30&kind=nonsense&before=x")
    assert response.status_code == 200
    assert "Enter a valid date" in response.content.decode()
    assert client.get("/portal/statement.csv?date_from=2026-12-01&date_to=2026-11-01").status_code == 400


@pytest.mark.django_db
def test_credit_request_from_the_portal(seller_a, portal_client):
    client = portal_client(seller_a.user)
    response = client.post("/portal/credit-requests/", {"amount": "300000", "csrfmiddlewaretoken": _csrf(client)})
    assert response.status_code == 302
    pending = seller_a.credit_requests.get(status="pending")
    assert pending.amount == 300_000
    page = client.get("/portal/credit-requests/?status=pending").content.decode()
    assert f'<td class="num">{pending.pk}</td>' in page
    assert "300,000" in page


@pytest.mark.django_db
def test_rotating_the_token_revokes_the_old_one(seller_a, portal_client):
    old = issue_api_token(user=seller_a.user)
    client = portal_client(seller_a.user)
    page = client.post("/portal/api-token/rotate/", {"csrfmiddlewaretoken": _csrf(client)}).content.decode()
    new = re.search(r'<code class="secret" id="new-token">([^<]+)</code>', page).group(1)
    assert AuthToken.objects.filter(user=seller_a.user).count() == 1
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert api.get("/api/v1/me/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert api.get("/api/v1/me/").json()["balance"] == 1_000_000


@pytest.mark.django_db
def test_dashboard_shows_balance_and_today(seller_a, portal_client):
    sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=12_500)
    page = portal_client(seller_a.user).get("/portal/").content.decode()
    assert re.search(r'id="balance">987,500<', page)
    assert re.search(r'id="today-count">1<', page)
    assert re.search(r'id="today-amount">12,500<', page)
    # One bar: today's, the newest, at the right (the other days sold nothing).
    (title,) = re.findall(r'<rect class="bar"[^>]*><title>([^<]+)</title>', page)
    assert title == f"{business_today().isoformat()} sales: 12,500 IRR (1)"


@pytest.mark.django_db
def test_persian_pages_are_right_to_left_with_jalali_dates(seller_a, portal_client):
    client = portal_client(seller_a.user)
    page = client.get("/portal/credit-requests/", HTTP_ACCEPT_LANGUAGE="fa").content.decode()
    assert 'lang="fa" dir="rtl"' in page
    assert re.search(r'<td class="date">14\d\d/\d\d/\d\d \d\d:\d\d</td>', page)  # a Jalali year
    assert "1,000,000" in page
    english = client.get("/portal/credit-requests/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="en" dir="ltr"' in english
    assert re.search(r'<td class="date">20\d\d-\d\d-\d\d \d\d:\d\d</td>', english)


@pytest.mark.django_db
def test_language_switch_sets_the_language(seller_a, portal_client):
    client = portal_client(seller_a.user)
    client.post("/i18n/setlang/", {"language": "fa", "next": "/portal/", "csrfmiddlewaretoken": _csrf(client)})
    assert 'dir="rtl"' in client.get("/portal/").content.decode()
    assert 'dir="rtl"' in client.get("/admin/login/").content.decode()


@pytest.mark.django_db
def test_api_stays_english_json_in_persian(seller_a):
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="fa")
    response = anonymous.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Authentication credentials were not provided."
    assert "Content-Language" not in response
    api = APIClient(HTTP_ACCEPT_LANGUAGE="fa")
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=seller_a.user)}")
    body = api.post("/api/v1/recharges/", {"phone_number": "x", "amount": 5000}, format="json").json()
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"]["phone_number"] == ["Enter an Iranian mobile number, e.g. 09121234567."]
    me = api.get("/api/v1/me/").json()
    assert (me["id"], me["name"], me["balance"]) == (seller_a.pk, "Shop A", 1000000)


@pytest.mark.django_db
def test_landing_page_links_portal_admin_and_docs():
    page = Client().get("/").content.decode()
    for link in ('href="/portal/login/"', 'href="/admin/"', 'href="/api/docs/"'):
        assert link in page
    assert Client().get("/nowhere").json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_recharge_status_refund_and_filter(seller_a, staff_user, portal_client):
    from recharges.delivery import resolve_recharge

    sold = [
        json.loads(sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=a).body)["id"]
        for a in (1000, 2000, 3000)
    ]
    resolve_recharge(recharge_id=sold[0], successful=True, operator_reference="MCI-77", resolved_by=staff_user)
    resolve_recharge(recharge_id=sold[1], successful=False, resolved_by=staff_user)
    client = portal_client(seller_a.user)
    failed = client.get(f"/portal/recharges/{sold[1]}/").content.decode()
    assert 'id="status">failed<' in failed and "not_delivered" in failed and "refunded" in failed
    assert "MCI-77" in client.get(f"/portal/recharges/{sold[0]}/").content.decode()
    listed = {
        status: [
            int(n)
            for n in re.findall(
                r'/portal/recharges/(\d+)/"', client.get(f"/portal/recharges/?status={status}").content.decode()
            )
        ]
        for status in ("pending", "successful", "failed")
    }
    assert listed == {"pending": [sold[2]], "successful": [sold[0]], "failed": [sold[1]]}
    seller_a.refresh_from_db()
    assert seller_a.balance == 1_000_000 - 1000 - 3000  # the failed one refunded
    statement = client.get("/portal/statement/?kind=refund").content.decode()
    assert re.findall(r'<tr><td class="num">(\d+)</td>', statement) == ["5"]


@pytest.mark.django_db
def test_operator_limits_refuse_on_the_form(seller_a, portal_client):
    from recharges.models import Operator

    Operator.objects.filter(code="mci").update(max_amount=10_000)
    client = portal_client(seller_a.user)
    form = {
        "phone_number": "09121234567",
        "amount": "20000",
        "idempotency_key": _sale_key(client),
        "csrfmiddlewaretoken": _csrf(client),
    }
    response = client.post("/portal/recharges/", form)
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    form["operator"] = "irancell"  # a ported number: the seller names its operator
    assert client.post("/portal/recharges/", form).status_code == 302
    assert list(Recharge.objects.filter(seller=seller_a).values_list("operator", "amount")) == [("irancell", 20_000)]


@pytest.mark.django_db
def test_callback_url_set_shown_once_and_removed(seller_a, portal_client):
    client = portal_client(seller_a.user)
    page = client.post(
        "/portal/callback/", {"url": "https://shop.example/hooks", "csrfmiddlewaretoken": _csrf(client)}
    ).content.decode()
    secret = re.search(r'id="new-secret">([0-9a-f]{64})<', page).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=seller_a.user)}")
    assert api.get("/api/v1/me/callback/").json() == {"url": "https://shop.example/hooks"}
    shown = client.get("/portal/callback/").content.decode()
    assert "https://shop.example/hooks" in shown and secret not in shown
    bad = client.post("/portal/callback/", {"url": "ftp://shop.example/", "csrfmiddlewaretoken": _csrf(client)})
    assert bad.status_code == 400
    assert api.get("/api/v1/me/callback/").json() == {"url": "https://shop.example/hooks"}
    client.post("/portal/callback/remove/", {"csrfmiddlewaretoken": _csrf(client)})
    assert api.get("/api/v1/me/callback/").status_code == 404


@pytest.mark.django_db(transaction=True)  # the 409 undoes the sale's statement by raising
def test_a_sale_the_operator_float_cannot_cover_says_so_and_writes_nothing(seller_a, portal_client, staff_user):
    record_prepayment(operator="mci", amount=1_000, bank_reference="SATNA-P", created_by=staff_user)
    client = portal_client(seller_a.user)
    form = {
        "phone_number": "09121234567",
        "amount": "5000",
        "idempotency_key": _sale_key(client),
        "csrfmiddlewaretoken": _csrf(client),
    }
    page = client.post("/portal/recharges/", form, follow=True).content.decode()
    assert "Not sold: the operator cannot take top-ups now; nothing was charged. Try again later." in page
    seller_a.refresh_from_db()
    assert seller_a.balance == 1_000_000
    assert not Recharge.objects.filter(seller=seller_a).exists()
