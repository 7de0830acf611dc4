"""The floats in the admin: a prepayment recorded through its form (four
eyes above the threshold, the second approval an action), the float's list
with its burn rate, and only the warning threshold editable."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from recharges.delivery import resolve_recharge
from recharges.floats import record_prepayment
from recharges.models import FloatEntry, OperatorFloat, Prepayment
from recharges.services import sell_recharge


def logged_in(username: str) -> tuple[Client, object]:
    user = get_user_model().objects.create_superuser(username=username, password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def boss(db):
    return logged_in("boss")


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_prepayment_from_the_form_tops_the_float_up_once(boss):
    client, _ = boss
    form = {"operator": "mci", "amount": "250000", "bank_reference": "SATNA-77"}
    assert client.post("/admin/recharges/prepayment/add/", form).status_code == 302
    again = client.post("/admin/recharges/prepayment/add/", form)
    assert again.status_code == 200  # the form's error: the bank reference is unique per operator
    assert again.context["adminform"].form.errors
    assert OperatorFloat.objects.get(pk="mci").balance == 250_000
    assert Prepayment.objects.count() == 1


def test_a_large_prepayment_waits_for_the_second_approval_action(boss, settings):
    settings.FOUR_EYES_PREPAYMENT_THRESHOLD = 100_000
    client, _ = boss
    client.post("/admin/recharges/prepayment/add/", {"operator": "mci", "amount": "250000", "bank_reference": "B-1"})
    prepayment = Prepayment.objects.get()
    assert prepayment.status == "awaiting_second_approval"
    selected = {"action": "approve_selected", "_selected_action": [prepayment.pk]}
    refused = client.post("/admin/recharges/prepayment/", selected, follow=True)
    assert "0 prepayments applied, 1 refused." in messages_of(refused)
    second, _ = logged_in("second")
    second.post("/admin/recharges/prepayment/", selected)
    assert OperatorFloat.objects.get(pk="mci").balance == 250_000


def test_the_float_list_shows_burn_and_hours_left_and_only_the_threshold_changes(boss, seller_a):
    client, user = boss
    record_prepayment(operator="mci", amount=100_000, bank_reference="B-2", created_by=user)
    result = sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=10_000)
    recharge_id = int(result.body.split('"id":')[1].split(",")[0])
    resolve_recharge(recharge_id=recharge_id, successful=True, operator_reference="OP-1", resolved_by=user)

    page = client.get("/admin/recharges/operatorfloat/").content.decode()
    assert "90,000" in page and "9.0" in page  # 90,000 available, 10,000 an hour: 9 hours

    response = client.post(
        "/admin/recharges/operatorfloat/mci/change/", {"alert_below_hours": "48", "balance": "999999999"}
    )
    assert response.status_code == 302
    account = OperatorFloat.objects.get(pk="mci")
    assert (account.balance, account.alert_below_hours) == (90_000, 48)
    assert FloatEntry.objects.count() == 2
