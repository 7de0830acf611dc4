"""A credit request's admin page: Approve and Reject, each asking first on a
page of its own, decide the request exactly once, and only for a user
holding the permission the list's actions check; a decided request's page
has neither, nor a Save."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from credits.models import CreditRequest
from credits.services import request_credit
from ledger.models import LedgerEntry

START = 1_000_000
AMOUNT = 3_000_000


@pytest.fixture
def seller(make_seller):
    return make_seller(name="Shop X", balance=START)


@pytest.fixture
def pending(seller):
    return request_credit(seller_id=seller.pk, amount=AMOUNT)


def staff_client(*codenames: str) -> tuple[Client, object]:
    user = get_user_model().objects.create_user(username=f"clerk-{len(codenames)}", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="credits", codename=codename))
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def approver(db):
    return staff_client("view_creditrequest", "decide_creditrequest")


def page(credit_request) -> str:
    return f"/admin/credits/creditrequest/{credit_request.pk}/change/"


def button(credit_request, verb: str) -> str:
    return f"/admin/credits/creditrequest/{credit_request.pk}/{verb}/"


def books(seller) -> tuple[int, list[tuple[str, int, int]]]:
    """The seller's balance and ledger: (kind, amount, balance after) per entry."""
    seller.refresh_from_db()
    entries = LedgerEntry.objects.filter(seller=seller).order_by("sequence")
    return seller.balance, list(entries.values_list("kind", "amount", "balance_after"))


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_page_offers_approve_and_reject_and_no_save(approver, pending):
    client, _ = approver
    html = client.get(page(pending)).content.decode()
    assert f'formaction="{button(pending, "approve")}" value="Approve"' in html
    assert f'formaction="{button(pending, "reject")}" value="Reject"' in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert f"Top-up request #{pending.pk}: 3,000,000 IRR for Shop X" in html  # the page's title


def test_approve_asks_first_then_credits_exactly_once(approver, seller, pending):
    client, user = approver
    before = books(seller)
    asked = client.post(button(pending, "approve"))  # the page's button: a question, nothing decided
    assert asked.status_code == 200
    html = asked.content.decode()
    assert f"Approve Top-up request #{pending.pk}: 3,000,000 IRR for Shop X?" in html
    assert "The balance of Shop X goes from 1,000,000 IRR to 4,000,000 IRR." in html
    assert books(seller) == before

    done = client.post(button(pending, "approve"), {"confirmed": "yes"}, follow=True)
    assert done.redirect_chain == [(page(pending), 302)]
    assert messages_of(done) == [f"Top-up request #{pending.pk} approved: 3,000,000 IRR credited to Shop X."]
    again = client.post(button(pending, "approve"), {"confirmed": "yes"}, follow=True)
    assert messages_of(again) == [f"Top-up request #{pending.pk} was already decided; nothing changed."]

    assert books(seller) == (START + AMOUNT, [("credit", START, START), ("credit", AMOUNT, START + AMOUNT)])
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by_id) == ("approved", user.pk)
    # Decided: the page has no button left.
    assert 'id="approve"' not in again.content.decode() and 'name="_save"' not in again.content.decode()


def test_reject_asks_first_then_rejects_exactly_once_crediting_nothing(approver, seller, pending):
    client, user = approver
    before = books(seller)
    asked = client.get(button(pending, "reject"))
    assert asked.status_code == 200 and "Nothing is credited to Shop X." in asked.content.decode()

    done = client.post(button(pending, "reject"), {"confirmed": "yes"}, follow=True)
    assert messages_of(done) == [f"Top-up request #{pending.pk} rejected: nothing credited to Shop X."]
    # Neither a second rejection nor an approval changes it now.
    for verb in ("reject", "approve"):
        response = client.post(button(pending, verb), {"confirmed": "yes"}, follow=True)
        assert messages_of(response) == [f"Top-up request #{pending.pk} was already decided; nothing changed."]

    assert books(seller) == before
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by_id) == ("rejected", user.pk)


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_without_the_permission_there_is_no_button_and_the_door_is_shut(verb, seller, pending):
    client, _ = staff_client("view_creditrequest")
    before = books(seller)
    html = client.get(page(pending)).content.decode()
    assert 'id="approve"' not in html and 'id="reject"' not in html and 'name="_save"' not in html
    assert client.get(button(pending, verb)).status_code == 403
    assert client.post(button(pending, verb), {"confirmed": "yes"}).status_code == 403
    assert books(seller) == before
    assert CreditRequest.objects.get(pk=pending.pk).status == "pending"


def test_a_decided_request_has_no_save_and_no_buttons(approver, seller):
    client, _ = approver
    approved = CreditRequest.objects.get(seller=seller)  # make_seller's funding, approved
    html = client.get(page(approved)).content.decode()
    assert 'name="_save"' not in html and 'id="approve"' not in html and 'id="reject"' not in html
    assert client.post(page(approved), {"_save": "Save"}).status_code == 403
