"""A top-up request from the portal carries the transfer's evidence (issue 21):
the bank, its tracking number, the day and a receipt, under the same rules as
the API's (credits.evidence); the receipt is served to its own seller only."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from config.dates import business_today
from credits.models import CreditRequest
from tests.helpers.api import nothing_written
from tests.helpers.receipts import BAD_RECEIPTS, PDF, PNG

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def ask(client, language="en", receipt: tuple[bytes, str] | None = None, **fields):
    data = {"amount": "300000", "csrfmiddlewaretoken": client.cookies["csrftoken"].value, **fields}
    if receipt is not None:
        data["receipt"] = SimpleUploadedFile(receipt[1], receipt[0], content_type="image/png")
    return client.post("/portal/credit-requests/", data, HTTP_ACCEPT_LANGUAGE=language)


def test_a_request_with_its_evidence_and_receipt(seller_a, portal_client):
    client = portal_client(seller_a.user)
    fields = {"bank": "mellat", "tracking_number": "TR-778899", "transferred_on": "2026-12-06"}
    assert ask(client, receipt=(PDF, "my receipt.exe"), **fields).status_code == 302
    credit_request = seller_a.credit_requests.get(status="pending")
    assert (credit_request.amount, credit_request.bank, credit_request.tracking_number) == (
        300_000,
        "mellat",
        "TR-778899",
    )
    assert credit_request.transferred_on.isoformat() == "2026-12-06"
    assert credit_request.receipt.name.endswith(".pdf")  # named by its content, never by the client
    page = client.get("/portal/credit-requests/").content.decode()
    url = f"/portal/credit-requests/{credit_request.pk}/receipt/"
    assert "Bank Mellat" in page and ">TR-778899<" in page and url in page
    served = client.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "application/pdf"
    assert b"".join(served.streaming_content) == PDF


def test_persian_digits_and_a_jalali_day_on_the_persian_page(seller_a, portal_client):
    client = portal_client(seller_a.user)
    fields = {"bank": "melli", "tracking_number": "۱۲۳۴۵۶", "transferred_on": "۱۴۰۵/۰۹/۱۵"}
    assert ask(client, language="fa", amount="۵۰۰۰۰", **fields).status_code == 302
    credit_request = seller_a.credit_requests.get(status="pending")
    assert (credit_request.amount, credit_request.tracking_number) == (50_000, "123456")
    assert credit_request.transferred_on.isoformat() == "2026-12-06"
    page = client.get("/portal/credit-requests/", HTTP_ACCEPT_LANGUAGE="fa").content.decode()
    assert "بانک ملی ایران" in page and "1405/09/15" in page
    assert "در انتظار" in page  # the status in Persian, not its code


def test_another_seller_never_sees_a_receipt(seller_a, seller_b, portal_client):
    assert ask(portal_client(seller_a.user), receipt=(PNG, "r.png")).status_code == 302
    credit_request = seller_a.credit_requests.get(status="pending")
    other = portal_client(seller_b.user)
    assert other.get(f"/portal/credit-requests/{credit_request.pk}/receipt/").status_code == 404
    assert other.get("/portal/credit-requests/999999/receipt/").status_code == 404


def test_a_request_without_a_receipt_has_none_to_serve(seller_a, portal_client):
    client = portal_client(seller_a.user)
    assert ask(client).status_code == 302
    credit_request = seller_a.credit_requests.get(status="pending")
    assert client.get(f"/portal/credit-requests/{credit_request.pk}/receipt/").status_code == 404
    assert "None given" in client.get("/portal/credit-requests/").content.decode()


@pytest.mark.parametrize("content, name", [bad[:2] for bad in BAD_RECEIPTS], ids=[bad[2] for bad in BAD_RECEIPTS])
def test_bad_uploads_are_refused_and_nothing_is_written(seller_a, portal_client, media_root, content, name):
    client = portal_client(seller_a.user)
    with nothing_written():
        response = ask(client, receipt=(content, name), bank="melli", tracking_number="555")
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"tracking_number": "12 34"}, "1 to 64 visible characters"),
        ({"tracking_number": "1" * 65}, "1 to 64 visible characters"),
        ({"bank": "no-such-bank"}, "Select a valid choice"),
        ({"transferred_on": "yesterday"}, "Enter a valid date"),
    ],
)
def test_bad_evidence_is_refused(seller_a, portal_client, fields, message):
    client = portal_client(seller_a.user)
    with nothing_written():
        response = ask(client, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_transfer_dated_after_today_is_refused(seller_a, portal_client):
    with nothing_written():
        response = ask(portal_client(seller_a.user), transferred_on=str(business_today() + timedelta(days=1)))
    assert response.status_code == 400
    assert "The transfer date cannot be in the future." in response.content.decode()


def test_a_tracking_number_already_used_is_refused(seller_a, seller_b, portal_client):
    fields = {"bank": "saman", "tracking_number": "990011"}
    assert ask(portal_client(seller_a.user), **fields).status_code == 302
    with nothing_written():
        response = ask(portal_client(seller_b.user), **fields)
    assert response.status_code == 400
    assert "already on a pending or approved request" in response.content.decode()
    assert CreditRequest.objects.filter(tracking_number="990011").count() == 1


def test_the_setting_makes_the_evidence_required(seller_a, portal_client, settings):
    settings.CREDIT_REQUEST_EVIDENCE_REQUIRED = True
    client = portal_client(seller_a.user)
    with nothing_written():
        response = ask(client)
    assert response.status_code == 400
    assert response.content.decode().count("This field is required.") == 3
    fields = {"bank": "sepah", "tracking_number": "4455", "transferred_on": "2026-12-05"}
    assert ask(client, **fields).status_code == 302
