"""A credit request carries its evidence (issue 21; contract "Money in:
evidence and four eyes"): the bank, its tracking number, the transfer's date
and a receipt file, as JSON or multipart; one tracking number funds one
approved request, which PostgreSQL guarantees."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction

from config.dates import business_today
from credits.banks import BANKS
from credits.models import CreditRequest
from credits.services import approve_credit_request, request_credit
from ledger.models import LedgerEntry
from tests.helpers.api import API, assert_error, nothing_written, post
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.receipts import BAD_RECEIPTS, JPEG, PDF, PNG
from tests.helpers.sellers import client_for
from tests.helpers.workers import outcomes, run_in_processes, run_in_threads

EVIDENCE = {"bank": "mellat", "tracking_number": "123456789012", "transferred_on": "2026-12-06"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(client, fields: dict, content: bytes | None = None, name: str = "receipt.png", key: str | None = None):
    data = dict(fields)
    if content is not None:
        data["receipt"] = SimpleUploadedFile(name, content, content_type="image/png")
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(f"{API}/credit-requests/", data, format="multipart", headers=headers)


def test_banks_are_a_plain_array_of_codes_and_names(client_a):
    response = client_a.get(f"{API}/banks/")
    assert response.status_code == 200
    body = response.json()
    assert body == [{"code": b.code, "name": b.name, "name_fa": b.name_fa} for b in BANKS]
    assert {"melli", "mellat", "saderat", "tejarat", "saman", "eghtesad-novin"} <= {b["code"] for b in body}


def test_a_v1_request_without_evidence_is_unchanged(client_a):
    response = post(client_a, f"{API}/credit-requests/", {"amount": 5000})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["amount"] == 5000
    assert body["bank"] is body["tracking_number"] is body["transferred_on"] is body["receipt_url"] is None


def test_json_evidence_is_stored_and_shown(client_a):
    response = post(client_a, f"{API}/credit-requests/", {"amount": 5000, **EVIDENCE})
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in EVIDENCE} == EVIDENCE
    assert body["receipt_url"] is None
    assert client_a.get(f"{API}/credit-requests/{body['id']}/").json()["tracking_number"] == "123456789012"


def test_persian_digits_in_a_tracking_number_are_read_as_latin(client_a):
    response = post(client_a, f"{API}/credit-requests/", {"amount": 5000, "bank": "melli", "tracking_number": "۱۲۳۴"})
    assert response.status_code == 201, response.content
    assert response.json()["tracking_number"] == "1234"


@pytest.mark.parametrize("content, name", [(PNG, "r.png"), (JPEG, "r.jpeg"), (PDF, "r.pdf"), (PNG, "r.txt")])
def test_multipart_with_a_receipt_served_to_its_seller_and_staff(
    client_a, client_b, staff_client, make_seller, media_root, content, name
):
    response = upload(client_a, {"amount": "7000", **EVIDENCE}, content, name)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == 7000 and body["bank"] == "mellat" and body["transferred_on"] == "2026-12-06"
    url = body["receipt_url"]
    assert url.startswith("http://testserver/api/v1/credit-requests/") and url.endswith("/receipt/")
    for client in (client_a, staff_client):
        served = client.get(url)
        assert served.status_code == 200
        assert b"".join(served.streaming_content) == content
    assert_error(client_b.get(url), 404, "not_found")
    stored = CreditRequest.objects.get(pk=body["id"]).receipt.name
    assert name not in stored and not stored.endswith(".txt")  # our name, by content
    assert (media_root / stored).read_bytes() == content


def test_staff_without_the_view_permission_may_not_see_a_receipt(client_a, staff_without_permissions):
    url = upload(client_a, {"amount": "7000"}, PNG).json()["receipt_url"]
    assert_error(client_for(staff_without_permissions).get(url), 403, "permission_denied")


def test_a_request_without_a_receipt_has_none_to_serve(client_a):
    credit_request = post(client_a, f"{API}/credit-requests/", {"amount": 5000}).json()
    assert_error(client_a.get(f"{API}/credit-requests/{credit_request['id']}/receipt/"), 404, "not_found")


@pytest.mark.parametrize("content, name", [bad[:2] for bad in BAD_RECEIPTS], ids=[bad[2] for bad in BAD_RECEIPTS])
def test_bad_uploads_are_refused_and_nothing_is_written(client_a, media_root, content, name):
    with nothing_written():
        response = upload(client_a, {"amount": "7000", **EVIDENCE}, content, name)
    error = assert_error(response, 400, "validation_error")
    assert "receipt" in str(error)
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


@pytest.mark.parametrize(
    "fields",
    [
        {"bank": "no-such-bank"},
        {"bank": "melli", "tracking_number": ""},
        {"bank": "melli", "tracking_number": "12 34"},
        {"bank": "melli", "tracking_number": "1" * 65},
        {"bank": "melli", "tracking_number": 1234},
        {"transferred_on": "yesterday"},
    ],
)
def test_bad_evidence_is_refused(client_a, fields):
    with nothing_written():
        assert_error(post(client_a, f"{API}/credit-requests/", {"amount": 5000, **fields}), 400, "validation_error")


def test_a_transfer_dated_after_today_is_refused_today_is_not(client_a):
    tomorrow = business_today() + timedelta(days=1)
    with nothing_written():
        response = post(client_a, f"{API}/credit-requests/", {"amount": 5000, "transferred_on": tomorrow.isoformat()})
    assert_error(response, 400, "validation_error", {"transferred_on": ["The transfer date cannot be in the future."]})
    today = post(client_a, f"{API}/credit-requests/", {"amount": 5000, "transferred_on": str(business_today())})
    assert today.status_code == 201, today.content


def test_a_tracking_number_on_a_pending_or_approved_request_is_409(client_a, client_b, staff_user):
    first = post(client_a, f"{API}/credit-requests/", {"amount": 5000, **EVIDENCE}).json()
    with nothing_written():
        assert_error(
            post(client_b, f"{API}/credit-requests/", {"amount": 9000, **EVIDENCE}), 409, "receipt_already_used"
        )
    approve_credit_request(credit_request_id=first["id"], decided_by=staff_user)
    with nothing_written():
        assert_error(
            post(client_a, f"{API}/credit-requests/", {"amount": 5000, **EVIDENCE}), 409, "receipt_already_used"
        )
    # Another bank's same number is another transfer.
    other = post(client_b, f"{API}/credit-requests/", {"amount": 5000, **EVIDENCE, "bank": "saman"})
    assert other.status_code == 201


def test_a_rejected_requests_tracking_number_may_be_sent_again(client_a, staff_client):
    first = post(client_a, f"{API}/credit-requests/", {"amount": 5000, **EVIDENCE}).json()
    assert post(staff_client, f"{API}/credit-requests/{first['id']}/reject/").status_code == 200
    assert post(client_a, f"{API}/credit-requests/", {"amount": 5000, **EVIDENCE}).status_code == 201


def test_approving_a_second_request_with_an_approved_receipt_is_409(seller_a, seller_b, staff_client):
    first = request_credit(seller_id=seller_a.pk, amount=5000, bank="melli", tracking_number="42")
    # Filed at once with the first (both passed the service's check).
    second = CreditRequest.objects.create(seller=seller_b, amount=8000, bank="melli", tracking_number="42")
    assert post(staff_client, f"{API}/credit-requests/{first.pk}/approve/").status_code == 200
    before = balance_of(seller_b.pk)
    with nothing_written():
        response = post(staff_client, f"{API}/credit-requests/{second.pk}/approve/")
    assert_error(response, 409, "receipt_already_used")
    assert balance_of(seller_b.pk) == before
    second.refresh_from_db()
    assert second.status == "pending"


def test_the_database_refuses_a_second_approved_request_with_one_receipt(seller_a, staff_user):
    """Bypasses Python: a raw UPDATE approving a second request with the same
    bank and tracking number breaks the partial unique index."""
    first = request_credit(seller_id=seller_a.pk, amount=5000, bank="melli", tracking_number="77")
    approve_credit_request(credit_request_id=first.pk, decided_by=staff_user)
    second = CreditRequest.objects.create(seller=seller_a, amount=5000, bank="melli", tracking_number="77")
    with (
        pytest.raises(IntegrityError, match="credit_request_receipt_approved_once"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE credits_creditrequest SET status = 'approved', decided_at = now(), decided_by_id = %s WHERE id = %s",
            [staff_user.pk, second.pk],
        )


def test_idempotent_multipart_replays_the_same_request(client_a):
    first = upload(client_a, {"amount": "7000", **EVIDENCE}, PNG, key="receipt-key-1")
    again = upload(client_a, {"amount": "7000", **EVIDENCE}, PNG, key="receipt-key-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert CreditRequest.objects.filter(tracking_number=EVIDENCE["tracking_number"]).count() == 1
    other = upload(client_a, {"amount": "7000", **EVIDENCE}, JPEG, key="receipt-key-1")
    assert other.status_code == 422


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", [run_in_threads, run_in_processes], ids=["threads", "processes"])
def test_two_requests_with_one_receipt_approved_at_once_credit_once(make_seller, staff_user, run):
    seller_a, seller_b = make_seller(), make_seller()
    first = request_credit(seller_id=seller_a.pk, amount=300_000, bank="saderat", tracking_number="RACE-1")
    # The second was filed at the same moment as the first, so both are pending.
    second = CreditRequest.objects.create(seller=seller_b, amount=300_000, bank="saderat", tracking_number="RACE-1")
    calls = [("approve", {"credit_request_ids": [pk], "staff_id": staff_user.pk}) for pk in (first.pk, second.pk)]

    answers = outcomes(run(calls))

    assert sorted(answer["status"] for answer in answers) == [200, 409]
    assert [answer["code"] for answer in answers if answer["status"] == 409] == ["receipt_already_used"]
    approved = CreditRequest.objects.get(status="approved", tracking_number="RACE-1")
    assert CreditRequest.objects.filter(tracking_number="RACE-1", status="pending").count() == 1
    assert LedgerEntry.objects.filter(credit_request__tracking_number="RACE-1").count() == 1
    assert balance_of(approved.seller_id) == 300_000
    assert balance_of(seller_a.pk) + balance_of(seller_b.pk) == 300_000
    assert_books_balance(seller_a.pk, seller_b.pk)


def test_the_admin_shows_the_evidence_and_the_receipt_to_staff_who_may_see_it(
    client_a, staff_user, staff_without_permissions
):
    from django.test import Client

    credit_request = upload(client_a, {"amount": "7000", **EVIDENCE}, PDF).json()
    bare = post(client_a, f"{API}/credit-requests/", {"amount": 5000}).json()
    staff = Client()
    staff.force_login(staff_user)
    listing = staff.get("/admin/credits/creditrequest/").content.decode()
    assert "123456789012" in listing and "None given" in listing
    page = staff.get(f"/admin/credits/creditrequest/{credit_request['id']}/change/").content.decode()
    receipt = f"/admin/credits/creditrequest/{credit_request['id']}/receipt/"
    assert receipt in page
    served = staff.get(receipt)
    assert served.status_code == 200 and served["Content-Type"] == "application/pdf"
    assert b"".join(served.streaming_content) == PDF
    assert staff.get(f"/admin/credits/creditrequest/{bare['id']}/receipt/").status_code == 404
    others = Client()
    others.force_login(staff_without_permissions)
    assert others.get(receipt).status_code == 403


def test_the_setting_makes_bank_tracking_number_and_day_required(client_a, settings):
    settings.CREDIT_REQUEST_EVIDENCE_REQUIRED = True
    with nothing_written():
        error = assert_error(post(client_a, f"{API}/credit-requests/", {"amount": 5000}), 400, "validation_error")
    assert set(error["details"]) == {"bank", "tracking_number", "transferred_on"}
    assert post(client_a, f"{API}/credit-requests/", {"amount": 5000, **EVIDENCE}).status_code == 201
    assert upload(client_a, {"amount": "5000", "bank": "melli"}, PNG).status_code == 400
