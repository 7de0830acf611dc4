"""Four eyes (issue 21; contract "Money in: evidence and four eyes"): above a
threshold, approving a credit request or a balance adjustment takes two
different staff members; the first approval records itself and credits
nothing, the second credits exactly once. Off by default (v1 unchanged)."""

import itertools
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from django.test import Client

from credits.models import CreditRequest
from credits.services import approve_credit_request, request_credit
from ledger.models import BalanceAdjustment, LedgerEntry
from ledger.services import adjust_balance
from tests.helpers.api import API, assert_error, nothing_written, post
from tests.helpers.books import assert_books_balance, balance_of
from tests.helpers.sellers import client_for
from tests.helpers.workers import outcomes, run_in_threads

START = 1_000_000
THRESHOLD = 100_000
BIG = 250_000
_numbers = itertools.count(1)
PERMISSIONS = [
    ("credits", "view_creditrequest"),
    ("credits", "decide_creditrequest"),
    ("ledger", "add_balanceadjustment"),
    ("ledger", "view_balanceadjustment"),
    ("sellers", "view_seller"),
]


def make_staff(user=None):
    user = user or get_user_model().objects.create_user(username=f"approver{next(_numbers)}", is_staff=True)
    for app_label, codename in PERMISSIONS:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def four_eyes(settings, seller):
    """Four eyes on, once the seller is funded (its funding request is approved by one)."""
    settings.FOUR_EYES_CREDIT_THRESHOLD = THRESHOLD
    settings.FOUR_EYES_ADJUSTMENT_THRESHOLD = THRESHOLD


@pytest.fixture
def seller(make_seller):
    return make_seller(name="Shop F", balance=START)


@pytest.fixture
def first(db):
    return make_staff()


@pytest.fixture
def second(db):
    return make_staff()


def approve(user, credit_request_id):
    return post(client_for(user), f"{API}/credit-requests/{credit_request_id}/approve/")


def credits_of(credit_request_id) -> int:
    return LedgerEntry.objects.filter(credit_request_id=credit_request_id).count()


def test_off_by_default_one_approval_credits(seller, first):
    credit_request = request_credit(seller_id=seller.pk, amount=BIG)
    response = approve(first, credit_request.pk)
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert balance_of(seller.pk) == START + BIG


@pytest.mark.usefixtures("four_eyes")
def test_above_the_threshold_two_different_approvers_credit_once(seller, first, second):
    credit_request = request_credit(seller_id=seller.pk, amount=BIG)

    response = approve(first, credit_request.pk)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "awaiting_second_approval"
    assert balance_of(seller.pk) == START and credits_of(credit_request.pk) == 0
    credit_request.refresh_from_db()
    assert credit_request.first_approved_by == first and credit_request.decided_by is None

    with nothing_written():
        assert_error(approve(first, credit_request.pk), 409, "second_approver_required")

    response = approve(second, credit_request.pk)
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert balance_of(seller.pk) == START + BIG and credits_of(credit_request.pk) == 1
    # Approving again (either of them) credits nothing more.
    for user in (first, second):
        assert approve(user, credit_request.pk).json()["status"] == "approved"
    assert balance_of(seller.pk) == START + BIG and credits_of(credit_request.pk) == 1
    credit_request.refresh_from_db()
    assert (credit_request.first_approved_by, credit_request.decided_by) == (first, second)
    assert_books_balance(seller.pk)


@pytest.mark.usefixtures("four_eyes")
def test_at_or_below_the_threshold_one_approval_credits(seller, first):
    credit_request = request_credit(seller_id=seller.pk, amount=THRESHOLD)
    assert approve(first, credit_request.pk).json()["status"] == "approved"
    assert balance_of(seller.pk) == START + THRESHOLD


@pytest.mark.usefixtures("four_eyes")
@pytest.mark.parametrize("who", ["first", "second"])
def test_a_rejection_by_either_ends_it(seller, first, second, who):
    credit_request = request_credit(seller_id=seller.pk, amount=BIG)
    approve(first, credit_request.pk)
    rejecter = {"first": first, "second": second}[who]
    response = post(client_for(rejecter), f"{API}/credit-requests/{credit_request.pk}/reject/")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    with nothing_written():
        assert_error(approve(second, credit_request.pk), 409, "already_decided")
    assert balance_of(seller.pk) == START and credits_of(credit_request.pk) == 0


@pytest.mark.parametrize("threshold", [None, THRESHOLD])
def test_the_sellers_own_user_never_approves(settings, seller, first, threshold):
    settings.FOUR_EYES_CREDIT_THRESHOLD = threshold  # after the seller's funding
    credit_request = request_credit(seller_id=seller.pk, amount=BIG)
    if threshold:
        approve(first, credit_request.pk)
    own = seller.user
    own.is_staff = True
    own.save(update_fields=["is_staff"])
    own = make_staff(own)
    with nothing_written():
        assert_error(approve(own, credit_request.pk), 409, "second_approver_required")
    assert balance_of(seller.pk) == START


@pytest.mark.usefixtures("four_eyes")
def test_the_database_refuses_one_person_as_both_approvers(seller, first):
    """Bypasses Python: approving by the first approver, or going back to pending."""
    credit_request = request_credit(seller_id=seller.pk, amount=BIG)
    approve(first, credit_request.pk)
    statements = [
        (
            "UPDATE credits_creditrequest SET status = 'approved', decided_at = now(), decided_by_id = %s WHERE id = %s",
            [first.pk, credit_request.pk],
            "credit_request_two_different_approvers",
        ),
        (
            "UPDATE credits_creditrequest SET status = 'pending', first_approved_at = NULL, first_approved_by_id = NULL "
            "WHERE id = %s",
            [credit_request.pk],
            "credit_request_frozen_once_decided",
        ),
        (
            "UPDATE credits_creditrequest SET status = 'awaiting_second_approval', first_approved_by_id = NULL "
            "WHERE id = %s",
            [credit_request.pk],
            "credit_request_",
        ),
        ("UPDATE credits_creditrequest SET status = 'waiting' WHERE id = %s", [credit_request.pk], "check constraint"),
    ]
    for sql, params, name in statements:
        with pytest.raises(IntegrityError, match=name), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)


# --- adjustments ---------------------------------------------------------------


def adjust(user, seller, amount):
    return post(client_for(user), f"{API}/sellers/{seller.pk}/adjustments/", {"amount": amount, "reason": "bank fee"})


def approve_adjustment(user, seller, adjustment_id):
    return post(client_for(user), f"{API}/sellers/{seller.pk}/adjustments/{adjustment_id}/approve/")


@pytest.mark.usefixtures("four_eyes")
@pytest.mark.parametrize("amount", [BIG, -BIG])
def test_an_adjustment_above_its_threshold_waits_for_a_second_approver(seller, first, second, amount):
    response = adjust(first, seller, amount)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "amount": amount,
        "reason": "bank fee",
        "balance_after": None,
        "status": "awaiting_second_approval",
    }
    assert balance_of(seller.pk) == START and not LedgerEntry.objects.filter(adjustment_id=body["id"]).exists()

    with nothing_written():
        assert_error(approve_adjustment(first, seller, body["id"]), 409, "second_approver_required")

    response = approve_adjustment(second, seller, body["id"])
    assert response.status_code == 201, response.content
    assert response.json() == {**body, "balance_after": START + amount, "status": "applied"}
    assert approve_adjustment(second, seller, body["id"]).json()["status"] == "applied"
    assert balance_of(seller.pk) == START + amount
    assert LedgerEntry.objects.filter(adjustment_id=body["id"]).count() == 1
    adjustment = BalanceAdjustment.objects.get(pk=body["id"])
    assert (adjustment.created_by, adjustment.approved_by) == (first, second)
    assert_books_balance(seller.pk)


@pytest.mark.usefixtures("four_eyes")
def test_a_waiting_adjustment_is_refused_at_once_if_the_balance_cannot_take_it_then_checked_again(
    seller, first, second
):
    with nothing_written():
        response = adjust(first, seller, -(START + 1))
    assert_error(response, 402, "insufficient_balance", {"balance": START, "amount": START + 1})

    waiting = adjust(first, seller, -START).json()  # the balance covers it now, not at the second approval
    adjust_balance(seller_id=seller.pk, amount=-1, reason="fee", created_by=first)
    with nothing_written():
        assert_error(approve_adjustment(second, seller, waiting["id"]), 402, "insufficient_balance")
    assert BalanceAdjustment.objects.get(pk=waiting["id"]).status == "awaiting_second_approval"
    assert balance_of(seller.pk) == START - 1
    assert_books_balance(seller.pk)


@pytest.mark.usefixtures("four_eyes")
def test_an_adjustment_at_its_threshold_applies_at_once(seller, first):
    response = adjust(first, seller, THRESHOLD)
    assert response.status_code == 201
    assert response.json()["balance_after"] == START + THRESHOLD and "status" not in response.json()  # v1's body


def test_adjustments_are_applied_at_once_by_default(seller, first, make_seller):
    body = adjust(first, seller, BIG).json()
    assert set(body) == {"id", "amount", "reason", "balance_after"} and body["balance_after"] == START + BIG
    other = make_seller()
    assert_error(approve_adjustment(first, other, body["id"]), 404, "not_found")


@pytest.mark.usefixtures("four_eyes")
def test_the_database_refuses_a_self_approved_or_edited_adjustment(seller, first, second):
    waiting = adjust(first, seller, BIG).json()["id"]
    applied = adjust(first, seller, 1_000).json()["id"]
    statements = [
        (
            "UPDATE ledger_balanceadjustment SET status = 'applied', approved_by_id = created_by_id, "
            "approved_at = now() WHERE id = %s",
            [waiting],
            "adjustment_second_approver_differs",
        ),
        ("UPDATE ledger_balanceadjustment SET status = 'applied' WHERE id = %s", [waiting], "frozen_once_applied"),
        ("UPDATE ledger_balanceadjustment SET amount = 5 WHERE id = %s", [applied], "frozen_once_applied"),
        ("UPDATE ledger_balanceadjustment SET status = 'maybe' WHERE id = %s", [waiting], "adjustment_status_valid"),
    ]
    for sql, params, name in statements:
        with pytest.raises(IntegrityError, match=name), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)


def reject_adjustment(user, seller, adjustment_id):
    return post(client_for(user), f"{API}/sellers/{seller.pk}/adjustments/{adjustment_id}/reject/")


@pytest.mark.usefixtures("four_eyes")
@pytest.mark.parametrize("who", ["maker", "other"])
def test_a_rejection_by_either_ends_a_waiting_adjustment(seller, first, second, who):
    body = adjust(first, seller, -BIG).json()
    response = reject_adjustment(first if who == "maker" else second, seller, body["id"])
    assert response.status_code == 200, response.content
    assert response.json() == {**body, "status": "rejected"}
    assert reject_adjustment(second, seller, body["id"]).json() == response.json()  # again: unchanged
    with nothing_written():
        assert_error(approve_adjustment(second, seller, body["id"]), 409, "already_decided")
    assert balance_of(seller.pk) == START and not LedgerEntry.objects.filter(adjustment_id=body["id"]).exists()
    adjustment = BalanceAdjustment.objects.get(pk=body["id"])
    assert adjustment.rejected_by == (first if who == "maker" else second) and adjustment.approved_by is None
    assert_books_balance(seller.pk)


@pytest.mark.usefixtures("four_eyes")
def test_an_applied_adjustment_cannot_be_rejected(seller, first, second, make_seller):
    applied = adjust(first, seller, 1_000).json()["id"]
    with nothing_written():
        assert_error(reject_adjustment(second, seller, applied), 409, "already_decided")
    waiting = adjust(first, seller, BIG).json()["id"]
    assert_error(reject_adjustment(second, make_seller(), waiting), 404, "not_found")  # another seller's path
    assert balance_of(seller.pk) == START + 1_000


@pytest.mark.usefixtures("four_eyes")
def test_the_database_keeps_a_rejected_adjustment_rejected(seller, first, second):
    rejected = adjust(first, seller, BIG).json()["id"]
    reject_adjustment(second, seller, rejected)
    waiting = adjust(first, seller, BIG).json()["id"]
    statements = [
        (
            "UPDATE ledger_balanceadjustment SET status = 'applied', approved_by_id = %s, approved_at = now(), "
            "rejected_by_id = NULL, rejected_at = NULL WHERE id = %s",
            [second.pk, rejected],
            "frozen_once_applied",
        ),
        ("UPDATE ledger_balanceadjustment SET status = 'rejected' WHERE id = %s", [waiting], "rejection_whole"),
    ]
    for sql, params, name in statements:
        with pytest.raises(IntegrityError, match=name), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)


# --- the admin and the dashboard ---------------------------------------------------


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.usefixtures("four_eyes")
def test_the_admins_button_holds_four_eyes(seller, first, second):
    credit_request = request_credit(seller_id=seller.pk, amount=BIG)
    url = f"/admin/credits/creditrequest/{credit_request.pk}/approve/"
    question = browser(first).get(url).content.decode()
    assert "Nothing is credited to Shop F yet" in question

    page = browser(first).post(url, {"confirmed": "yes"}, follow=True).content.decode()
    assert "approved once" in page
    assert balance_of(seller.pk) == START
    assert CreditRequest.objects.get(pk=credit_request.pk).status == "awaiting_second_approval"
    assert 'id="approve"' not in page and 'id="reject"' in page  # the first approver may only reject now
    assert (
        'id="approve"'
        in browser(second).get(f"/admin/credits/creditrequest/{credit_request.pk}/change/").content.decode()
    )

    page = browser(first).post(url, {"confirmed": "yes"}, follow=True).content.decode()
    assert "second, different staff member" in page
    assert balance_of(seller.pk) == START

    browser(second).post(url, {"confirmed": "yes"})
    assert balance_of(seller.pk) == START + BIG and credits_of(credit_request.pk) == 1


@pytest.mark.usefixtures("four_eyes")
def test_the_admins_list_action_and_filter_hold_four_eyes(seller, first, second):
    waiting = request_credit(seller_id=seller.pk, amount=BIG)
    other = request_credit(seller_id=seller.pk, amount=BIG + 1)
    changelist = "/admin/credits/creditrequest/"
    action = {"action": "approve_selected", "_selected_action": [waiting.pk], "index": "0"}
    said = [str(m) for m in browser(first).post(changelist, action, follow=True).context["messages"]]
    assert said == ["0 approved, 1 awaiting a second approval, 0 refused, 0 already decided."]
    said = [str(m) for m in browser(first).post(changelist, action, follow=True).context["messages"]]
    assert said == [  # the same person again: refused, saying why
        f"Top-up request #{waiting.pk} was not approved: a second, different staff member must approve it (four eyes).",
        "0 approved, 0 awaiting a second approval, 1 refused, 0 already decided.",
    ]
    assert balance_of(seller.pk) == START
    listed = browser(first).get(changelist, {"status__exact": "awaiting_second_approval"})
    assert [row.pk for row in listed.context["cl"].result_list] == [waiting.pk]
    browser(second).post(changelist, action)
    assert balance_of(seller.pk) == START + BIG
    assert CreditRequest.objects.get(pk=other.pk).status == "pending"


@pytest.mark.usefixtures("four_eyes")
def test_the_adjustments_admin_holds_four_eyes(seller, first, second):
    form = {"seller": seller.pk, "amount": BIG, "reason": "cash deposit", "submission": "form-1"}
    page = browser(first).post("/admin/ledger/balanceadjustment/add/", form, follow=True).content.decode()
    assert "a second staff member must approve it" in page
    adjustment = BalanceAdjustment.objects.get(reason="cash deposit")
    assert adjustment.status == "awaiting_second_approval" and balance_of(seller.pk) == START
    action = {"action": "approve_selected", "_selected_action": [adjustment.pk], "index": "0"}
    page = browser(first).post("/admin/ledger/balanceadjustment/", action, follow=True).content.decode()
    assert "0 adjustments applied, 1 refused" in page and balance_of(seller.pk) == START
    browser(second).post("/admin/ledger/balanceadjustment/", action)
    assert balance_of(seller.pk) == START + BIG
    assert LedgerEntry.objects.filter(adjustment=adjustment).count() == 1


@pytest.mark.usefixtures("four_eyes")
def test_the_adjustments_admin_rejects_a_waiting_one(seller, first, second):
    waiting = adjust(first, seller, BIG).json()["id"]
    applied = adjust(first, seller, 1_000).json()["id"]
    action = {"action": "reject_selected", "_selected_action": [waiting, applied], "index": "0"}
    page = browser(second).post("/admin/ledger/balanceadjustment/", action, follow=True).content.decode()
    assert "1 adjustments rejected; they never post." in page
    statuses = dict(BalanceAdjustment.objects.values_list("pk", "status"))
    assert (statuses[waiting], statuses[applied]) == ("rejected", "applied")
    assert balance_of(seller.pk) == START + 1_000


@pytest.mark.usefixtures("four_eyes")
def test_the_dashboard_counts_requests_awaiting_a_second_approval_apart(seller, first):
    request_credit(seller_id=seller.pk, amount=5_000)
    waiting = request_credit(seller_id=seller.pk, amount=BIG)
    approve_credit_request(credit_request_id=waiting.pk, decided_by=first)
    user = make_staff()
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    html = browser(user).get("/admin/dashboard/").content.decode()
    card = html[html.index('id="waiting"') : html.index('id="deliveries"')]
    assert "status__exact=awaiting_second_approval" in card
    words = " ".join(re.sub(r"<[^>]+>", " ", card.split(">", 1)[1]).split())
    assert words.startswith("Credit requests waiting 1 5,000 IRR 1 awaiting a second approval ( 250,000 IRR)")
    assert 'id="waiting-adjustments"' not in card  # none waits


@pytest.mark.usefixtures("four_eyes")
def test_the_dashboard_counts_adjustments_awaiting_a_second_approval(seller, first):
    adjust(first, seller, BIG)
    adjust(first, seller, -BIG - 1)
    rejected = adjust(first, seller, BIG).json()["id"]
    reject_adjustment(first, seller, rejected)
    user = make_staff()
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    html = browser(user).get("/admin/dashboard/").content.decode()
    card = html[html.index('id="waiting-adjustments"') : html.index('id="deliveries"')]
    assert "/admin/ledger/balanceadjustment/?status__exact=awaiting_second_approval" in card
    words = " ".join(re.sub(r"<[^>]+>", " ", card.split(">", 1)[1]).split())
    assert words.startswith(f"2 balance adjustments awaiting a second approval ( {2 * BIG + 1:,} IRR)")


# --- concurrency -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("already_first", [False, True], ids=["both-first", "both-second"])
def test_two_approvers_at_once_credit_exactly_once(settings, make_seller, already_first):
    """Above the threshold, two different staff members approve at once:
    either one records the first approval and the other credits, or (after a
    third's first approval) both second approvals race and one credits."""
    seller = make_seller(balance=START)
    settings.FOUR_EYES_CREDIT_THRESHOLD = THRESHOLD
    approvers = [make_staff(), make_staff()]
    credit_request = request_credit(seller_id=seller.pk, amount=BIG)
    if already_first:
        approve_credit_request(credit_request_id=credit_request.pk, decided_by=make_staff())
    calls = [("approve", {"credit_request_ids": [credit_request.pk], "staff_id": user.pk}) for user in approvers]

    answers = outcomes(run_in_threads(calls))

    assert [answer["status"] for answer in answers] == [200, 200]
    credit_request.refresh_from_db()
    assert credit_request.status == "approved"
    assert credit_request.first_approved_by_id != credit_request.decided_by_id
    assert credits_of(credit_request.pk) == 1
    assert balance_of(seller.pk) == START + BIG
    assert sum(LedgerEntry.objects.filter(seller=seller).values_list("amount", flat=True)) == START + BIG
    assert_books_balance(seller.pk)


@pytest.mark.django_db(transaction=True)
def test_two_second_approvers_of_one_adjustment_at_once_post_it_once(settings, make_seller):
    seller = make_seller(balance=START)
    settings.FOUR_EYES_ADJUSTMENT_THRESHOLD = THRESHOLD
    maker, *approvers = make_staff(), make_staff(), make_staff()
    waiting = adjust_balance(seller_id=seller.pk, amount=-BIG, reason="chargeback", created_by=maker)
    assert isinstance(waiting, BalanceAdjustment) and balance_of(seller.pk) == START
    call = {"seller_id": seller.pk, "adjustment_ids": [waiting.pk]}
    calls = [("approve_adjustments", {**call, "staff_id": user.pk}) for user in approvers]

    answers = outcomes(run_in_threads(calls))

    assert [answer["status"] for answer in answers] == [201, 201]
    assert len({answer["entry_id"] for answer in answers}) == 1
    assert LedgerEntry.objects.filter(adjustment=waiting).count() == 1
    assert balance_of(seller.pk) == START - BIG
    assert BalanceAdjustment.objects.get(pk=waiting.pk).approved_by_id in {user.pk for user in approvers}
    assert_books_balance(seller.pk)
