"""The admin in Persian: the index, the lists and a credit request's page
name every app, model, column and field in Persian (none of the English
names is left), amounts read "3,000,000 ریال", phone numbers "0912 123 4567"
and operators go by their Persian names, with Latin digits throughout."""

import re
from html import unescape

import pytest
from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation
from django.utils.text import capfirst

from config.dates import show_moment
from credits.models import CreditRequest
from credits.services import request_credit
from ledger.models import LedgerEntry
from recharges.delivery import resolve_recharge
from recharges.models import Operator, Recharge
from recharges.services import sell_recharge

PERSIAN_DIGITS = re.compile("[۰-۹٠-٩]")
RESULTS = r'<table id="result_list">.*?</table>'


@pytest.fixture
def staff(db):
    client = Client(headers={"Accept-Language": "fa"})
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


@pytest.fixture
def sold(make_seller):
    Operator.objects.filter(code="mci").update(name_fa="همراه اول")
    seller = make_seller(name="فروشگاه گلستان", balance=1_000_000)
    sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=50_000)
    return seller


def visible_text(response, part: str = r"<body\b.*</body>") -> str:
    """What a reader sees of the page (or of its part matching `part`): no scripts, styles or tags."""
    assert response.status_code == 200
    html = re.search(part, response.content.decode(), re.S).group(0)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def in_both(*names) -> list[tuple[str, str]]:
    """(English, Persian) for each name: a lazy one, or a msgid."""
    pairs = []
    for name in names:
        with translation.override("en"):
            english = _said(name)
        with translation.override("fa"):
            persian = _said(name)
        pairs.append((english, persian))
    return pairs


def _said(name) -> str:
    return capfirst(translation.gettext(name) if isinstance(name, str) else str(name))


def assert_persian(text: str, pairs) -> None:
    for english, persian in pairs:
        assert english != persian, f"{english!r} has no Persian translation"
        assert persian in text, persian
        assert not re.search(rf"\b{re.escape(english)}\b", text), f"{english!r} shown in English"


def our_admins():
    return [m for m in admin.site._registry.values() if type(m).__module__.split(".")[0] != "django"]


def test_the_index_names_every_app_and_model_in_persian(staff):
    models = [m.opts for m in our_admins()]
    names = {opts.verbose_name_plural for opts in models} | {opts.app_config.verbose_name for opts in models}
    assert_persian(visible_text(staff.get("/admin/")), in_both(*names))


def test_the_recharges_list_reads_persian(staff, sold):
    text = visible_text(staff.get("/admin/recharges/recharge/"))
    model_admin = admin.site._registry[Recharge]
    columns = [label_for_field(name, Recharge, model_admin) for name in model_admin.list_display[1:]]
    filters = ["status", "failure_code", "created_at"]
    assert_persian(text, in_both(*columns, *[Recharge._meta.get_field(name).verbose_name for name in filters]))
    assert_persian(text, in_both(Recharge._meta.verbose_name_plural, "Pending"))
    assert "50,000 ریال" in text and "0912 123 4567" in text and "همراه اول" in text
    assert "IRR" not in text and "MCI" not in text and "+98912" not in text
    # The rows' figures in Latin digits (the date filters' own words are Django's and the calendar's).
    assert not PERSIAN_DIGITS.search(visible_text(staff.get("/admin/recharges/recharge/"), RESULTS))


def test_the_ledger_list_reads_persian(staff, sold):
    text = visible_text(staff.get("/admin/ledger/ledgerentry/"))
    model_admin = admin.site._registry[LedgerEntry]
    columns = [label_for_field(name, LedgerEntry, model_admin) for name in model_admin.list_display[1:]]
    assert_persian(text, in_both(*columns, LedgerEntry._meta.verbose_name_plural, "Credit", "Recharge"))
    assert "-50,000 ریال" in text and "950,000 ریال" in text and "0912 123 4567" in text
    assert not PERSIAN_DIGITS.search(visible_text(staff.get("/admin/ledger/ledgerentry/"), RESULTS))


def test_a_credit_requests_page_and_its_question_read_persian(staff, sold):
    credit_request = request_credit(seller_id=sold.pk, amount=3_000_000)
    response = staff.get(f"/admin/credits/creditrequest/{credit_request.pk}/change/")
    text = visible_text(response)
    fields = [CreditRequest._meta.get_field(name).verbose_name for name in ("seller", "status", "decided_by")]
    assert_persian(text, in_both(*fields, "amount", "Pending"))
    assert 'value="تأیید" id="approve"' in response.content.decode()
    assert 'value="رد" id="reject"' in response.content.decode()
    assert f"درخواست افزایش اعتبار #{credit_request.pk}: 3,000,000 ریال برای فروشگاه گلستان" in text
    question = staff.get(f"/admin/credits/creditrequest/{credit_request.pk}/approve/")
    assert "موجودی فروشگاه گلستان از 950,000 ریال به 3,950,000 ریال می‌رسد." in visible_text(question)
    assert 'value="بله، تأیید شود"' in question.content.decode()


def test_the_resolve_page_reads_persian(staff, sold):
    recharge = Recharge.objects.get(seller=sold)
    response = staff.get(f"/admin/recharges/recharge/{recharge.pk}/resolve/")
    text = visible_text(response)
    assert_persian(text, in_both("Outcome", "Successful at the operator"))
    assert 'value="ثبت نتیجه"' in response.content.decode()
    assert "50,000 ریال برای 0912 123 4567 (همراه اول)" in text
    # When it was sold, as every Persian page gives a moment: Jalali, Tehran time.
    with translation.override("fa"):
        assert f"فروش {sold.name} در {show_moment(recharge.created_at)}" in text
    assert "دسامبر" not in text


def test_a_failed_recharges_page_says_why_in_persian(staff, sold, staff_user):
    recharge = Recharge.objects.get(seller=sold)
    resolve_recharge(recharge_id=recharge.pk, successful=False, resolved_by=staff_user)
    text = visible_text(staff.get(f"/admin/recharges/recharge/{recharge.pk}/change/"))
    with translation.override("fa"):
        reason = str(Recharge.FAILURE_REASONS[Recharge.Failure.NOT_DELIVERED])
    assert reason in text and reason != "The top-up was not delivered."
    assert "The top-up was not delivered" not in text  # the API's English, stored, is not the page's
