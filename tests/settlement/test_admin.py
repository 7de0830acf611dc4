"""Settlement cases in the admin: resolved on their page with a note, once."""

from django.contrib.auth import get_user_model
from django.test import Client

from settlement.models import Settlement, SettlementCase


def test_a_case_is_resolved_with_a_note_once(db):
    user = get_user_model().objects.create_superuser(username="boss", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    settlement = Settlement.objects.create(
        operator_id="mci", day="2026-12-06", statement_lines=1, recharges=0, matched=0, differences=1, seconds=0.1
    )
    case = SettlementCase.objects.create(
        settlement=settlement, operator_id="mci", day=settlement.day, kind="theirs_only", reference="X-1"
    )
    page = f"/admin/settlement/settlementcase/{case.pk}/change/"

    assert client.post(page, {"note": ""}).status_code == 200  # a note is required
    assert client.post(page, {"note": "Operator's test top-up"}).status_code == 302
    assert client.post(page, {"note": "overwritten?"}).status_code == 403

    case.refresh_from_db()
    assert (case.note, case.resolved_by, case.loss) == ("Operator's test top-up", user, 0)
