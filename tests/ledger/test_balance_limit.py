"""A credit that would take a balance past bigint's 2^63 - 1 is a clear 409,
nothing written, wherever it comes from (issue 10, item 2): before, each of
these was a 500 "bigint out of range"."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from credits.services import request_credit
from tests.helpers.api import API, assert_error, nothing_written, post, snapshot
from tests.helpers.ledger_entries import raise_balance_to_the_limit

MAX_BALANCE = 2**63 - 1  # PostgreSQL's bigint
HEADROOM = 5_000


@pytest.fixture
def rich(seller_a, staff_user):
    raise_balance_to_the_limit(seller_a, staff_user, HEADROOM)
    return seller_a


def test_approving_past_the_limit_is_409(rich, staff_client):
    credit_request = request_credit(seller_id=rich.pk, amount=HEADROOM + 1)
    with nothing_written():
        response = post(staff_client, f"{API}/credit-requests/{credit_request.pk}/approve/")
    error = assert_error(response, 409, "balance_limit_exceeded")
    assert error["details"] == {"balance": MAX_BALANCE - HEADROOM, "amount": HEADROOM + 1, "limit": MAX_BALANCE}


def test_approving_up_to_the_limit_is_fine(rich, staff_client):
    credit_request = request_credit(seller_id=rich.pk, amount=HEADROOM)
    assert post(staff_client, f"{API}/credit-requests/{credit_request.pk}/approve/").status_code == 200
    rich.refresh_from_db()
    assert rich.balance == MAX_BALANCE


@pytest.mark.parametrize("key", [None, "adjust-past-limit"])
def test_adjusting_past_the_limit_is_409(rich, staff_client, key):
    url = f"{API}/sellers/{rich.pk}/adjustments/"
    body = {"amount": 10**15, "reason": "too much"}
    if key is None:
        with nothing_written():
            assert_error(post(staff_client, url, body), 409, "balance_limit_exceeded")
    else:
        first = post(staff_client, url, body, key=key)
        assert_error(first, 409, "balance_limit_exceeded")
        # A business refusal: kept with its key and replayed, as a 402 is.
        with nothing_written():
            again = post(staff_client, url, body, key=key)
        assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (409, first.json(), "true")
    rich.refresh_from_db()
    assert rich.balance == MAX_BALANCE - HEADROOM


@pytest.fixture
def admin(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="limit-boss", password="pw-for-tests-only"))
    return client


def test_the_admin_approve_action_refuses_it_saying_why(rich, admin):
    credit_request = request_credit(seller_id=rich.pk, amount=10**15)
    with nothing_written():
        response = admin.post(
            "/admin/credits/creditrequest/",
            {"action": "approve_selected", "_selected_action": [credit_request.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        f"Top-up request #{credit_request.pk} was not approved: "
        "the seller's balance would pass the largest amount the ledger holds.",
        "0 approved, 0 awaiting a second approval, 1 refused, 0 already decided.",
    ]


def test_the_admin_adjustment_form_refuses_it(rich, admin):
    before = snapshot()
    response = admin.post(
        "/admin/ledger/balanceadjustment/add/",
        {"seller": rich.pk, "amount": 10**15, "reason": "too much", "submission": "form-1"},
        follow=True,
    )
    # Only the refusal, kept under the form's key as a business refusal is under an Idempotency-Key.
    assert snapshot() == {**before, "idempotency_records": before["idempotency_records"] + 1}
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1 and messages[0].startswith("Refused: This credit would take the balance past")
