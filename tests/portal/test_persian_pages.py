"""The portal in Persian and English (issue 20): operators by name, numbers
as 0912 123 4567, a failed recharge's reason and the balance after its
refund, refusals in the page's words, pager arrows pointing the page's way,
a chart that reads right to left, Latin digits throughout."""

import html
import json
import re
from datetime import timedelta

import jdatetime
import pytest
from django.utils import translation

from config.errors import OutcomeUnknown, ServiceUnavailable
from portal.refusals import operator_refusal_errors
from portal.selectors import business_today
from recharges.delivery import resolve_recharge
from recharges.models import Operator
from recharges.services import sell_recharge
from tests.portal.helpers import mci_catalogue

MCI, IRANCELL = "+989121234567", "+989351234567"
PERSIAN_DIGITS = re.compile("[۰-۹٠-٩]")


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _client(portal_client, seller, language):
    client = portal_client(seller.user)
    client.cookies["django_language"] = language  # what the language switch sets
    return client


def _sold(seller, phone, amount) -> int:
    result = sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount)
    assert result.status_code == 201, result.body
    return json.loads(result.body)["id"]


def _rows(page: str) -> list[list[str]]:
    body = re.search(r'<table id="recharges">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [[_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in body.split("</tr>")[:-1]]


@pytest.fixture
def failed_and_pending(seller_a, staff_user):
    """20,000 to an MCI number, pending; then 30,000 to an Irancell number,
    failed by staff (not delivered) and refunded. Operators have Persian names."""
    mci_catalogue()
    pending = _sold(seller_a, MCI, 20_000)  # balance 980,000
    failed = _sold(seller_a, IRANCELL, 30_000)  # 950,000, then refunded: 980,000
    resolve_recharge(recharge_id=failed, successful=False, resolved_by=staff_user)
    return pending, failed


EXPECTED_ROWS = {
    "fa": [
        [
            "0935 123 4567",
            "ایرانسل",
            "30,000",
            "0",
            "980,000 پس از بازپرداخت (950,000 پس از فروش)",
            "ناموفق شارژ تحویل داده نشد.",
        ],
        ["0912 123 4567", "همراه اول", "20,000", "0", "980,000", "در انتظار"],
    ],
    "en": [
        [
            "0935 123 4567",
            "Irancell",
            "30,000",
            "0",
            "980,000 after the refund (950,000 after the sale)",
            "failed The top-up was not delivered.",
        ],
        ["0912 123 4567", "MCI (Hamrah-e Aval)", "20,000", "0", "980,000", "pending"],
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fa", "en"])
def test_the_recharge_list_names_operators_numbers_reasons_and_the_balance_after_the_refund(
    language, seller_a, failed_and_pending, portal_client
):
    page = _client(portal_client, seller_a, language).get("/portal/recharges/").content.decode()
    rows = _rows(page)
    assert [row[0] for row in rows] == [str(failed_and_pending[1]), str(failed_and_pending[0])]
    assert [row[2:] for row in rows] == EXPECTED_ROWS[language]
    # The figures keep their order on a right-to-left page: the cells are left to right.
    assert '<td class="num phone">0935 123 4567</td>' in page
    table = _text(re.search(r'<table id="recharges">.*?</table>', page, re.S).group(0))
    for leak in ("+98", "irancell", "not_delivered", "refunded. ", "mci"):
        assert leak not in table
    if language == "fa":  # the sale form's script reads Persian digits typed in: it lists them
        assert not PERSIAN_DIGITS.search(re.sub(r"<script>.*?</script>", "", page, flags=re.S))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, fields",
    [
        (
            "fa",
            {
                "phone": "0935 123 4567",
                "operator": "ایرانسل",
                "balance-after": "950,000",
                "balance-after-refund": "980,000",
                "failure": "شارژ تحویل داده نشد. مبلغ بازپرداخت شد. not_delivered",
                "status": "ناموفق",
            },
        ),
        (
            "en",
            {
                "phone": "0935 123 4567",
                "operator": "Irancell",
                "balance-after": "950,000",
                "balance-after-refund": "980,000",
                "failure": "The top-up was not delivered. The amount was refunded. not_delivered",
                "status": "failed",
            },
        ),
    ],
)
def test_a_failed_recharge_says_why_once_and_shows_both_balances(
    language, fields, seller_a, failed_and_pending, portal_client
):
    page = (
        _client(portal_client, seller_a, language).get(f"/portal/recharges/{failed_and_pending[1]}/").content.decode()
    )
    shown = {key: _text(re.search(rf'id="{key}">(.*?)</td>', page, re.S).group(1)) for key in fields}
    assert shown == fields
    labels = re.findall(r"<th>([^<]+)</th><td class=\"num\" id=\"balance-after", page)
    assert labels == (
        ["موجودی پس از فروش", "موجودی پس از بازپرداخت"]
        if language == "fa"
        else ["Balance after the sale", "Balance after the refund"]
    )
    assert page.count("refunded") == (1 if language == "en" else 0)
    pending = _client(portal_client, seller_a, language).get(f"/portal/recharges/{failed_and_pending[0]}/")
    assert _text(re.search(r'id="balance-after">(.*?)</td>', pending.content.decode()).group(1)) == "980,000"
    assert 'id="balance-after-refund"' not in pending.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, sold, refused",
    [
        (
            "fa",
            "شارژ #{id} برای 0912 123 4567 فروخته شد.",
            [
                ("25000", "همراه اول مبلغ‌های 1 تا 20,000 ریال را می‌پذیرد."),
                (
                    "15000",
                    "همراه اول شارژ را فقط با این مبلغ‌ها (ریال) می‌فروشد: 10,000، 20,000، 50,000، 100,000، 200,000.",
                ),
            ],
        ),
        (
            "en",
            "Recharge #{id} sold to 0912 123 4567.",
            [
                ("25000", "MCI (Hamrah-e Aval) takes amounts from 1 to 20,000 rials."),
                (
                    "15000",
                    "MCI (Hamrah-e Aval) sells airtime only in these amounts (rials): "
                    "10,000, 20,000, 50,000, 100,000, 200,000.",
                ),
            ],
        ),
    ],
)
def test_sales_and_the_operators_refusals_in_the_pages_words(language, sold, refused, seller_a, portal_client):
    mci_catalogue()
    Operator.objects.filter(code="mci").update(max_amount=20_000, denominations=None)
    client = _client(portal_client, seller_a, language)
    response = client.post("/portal/recharges/", _sale(client, MCI, refused[0][0]))
    assert response.status_code == 400
    assert re.findall(r'<ul class="errorlist[^"]*"[^>]*><li>([^<]+)</li>', response.content.decode()) == [refused[0][1]]
    Operator.objects.filter(code="mci").update(
        max_amount=200_000, denominations=[10_000, 20_000, 50_000, 100_000, 200_000]
    )
    response = client.post("/portal/recharges/", _sale(client, MCI, refused[1][0]))
    assert re.findall(r'<ul class="errorlist[^"]*"[^>]*><li>([^<]+)</li>', response.content.decode()) == [refused[1][1]]
    page = client.post("/portal/recharges/", _sale(client, MCI, "20000"), follow=True).content.decode()
    (message,) = re.findall(r'<li class="success">(.*?)</li>', page)
    recharge_id = seller_a.recharges.get().pk
    # The number isolated left to right: a right-to-left sentence would reverse its groups.
    assert '<bdi dir="ltr">0912 123 4567</bdi>' in message
    assert re.sub(r"<[^>]+>", "", message) == sold.format(id=recharge_id)


def _sale(client, phone, amount) -> dict:
    page = client.get("/portal/recharges/").content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    return {
        "phone_number": phone,
        "amount": amount,
        "idempotency_key": key,
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, older, newer",
    [("fa", "قدیمی‌تر ←", "→ جدیدتر"), ("en", "Older →", "← Newer")],
)
def test_the_pager_arrows_point_the_pages_way(language, older, newer, seller_a, portal_client):
    """In Persian the page reads right to left: older pages lie to the left."""
    for amount in range(100, 151):
        _sold(seller_a, MCI, amount)
    client = _client(portal_client, seller_a, language)
    first = client.get("/portal/statement/").content.decode()
    assert [html.unescape(text) for text in re.findall(r'id="(?:older|newer)">([^<]+)</a>', first)] == [older]
    link = re.search(r'href="\?([^"]*)" id="older"', first).group(1).replace("&amp;", "&")
    second = client.get(f"/portal/statement/?{link}").content.decode()
    assert [html.unescape(text) for text in re.findall(r'id="(?:older|newer)">([^<]+)</a>', second)] == [newer]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fa", "en"])
def test_the_sales_chart_reads_in_the_pages_direction(language, seller_a, portal_client):
    _sold(seller_a, MCI, 12_500)
    response = _client(portal_client, seller_a, language).get("/portal/")
    chart = response.context["chart"]
    today = business_today()
    by_x = sorted(chart.labels, key=lambda label: label.x)
    ordered = by_x if language == "fa" else by_x[::-1]  # newest first
    assert [label.day for label in ordered] == [today - timedelta(days) for days in range(0, 30, 5)]
    assert all(20 <= label.x <= chart.width - 20 for label in chart.labels)  # centred: the newest fits too
    (bar,) = chart.bars
    assert (bar.day, bar.value, bar.count) == (today, 12_500, 1)
    assert bar.x < chart.width / 2 if language == "fa" else bar.x > chart.width / 2
    page = response.content.decode()
    (title,) = re.findall(r'<rect class="bar"[^>]*><title>([^<]+)</title>', page)
    if language == "fa":
        assert title == f"{jdatetime.date.fromgregorian(date=today).strftime('%Y/%m/%d')} فروش: 12,500 ریال (1)"
        assert not PERSIAN_DIGITS.search(page)
    else:
        assert title == f"{today.isoformat()} sales: 12,500 IRR (1)"
    assert re.search(r'id="balance">987,500<', page)  # Latin digits with separators in both languages


@pytest.mark.parametrize(
    "refusal, english, persian",
    [
        (
            {"operator": "aptel", "problem": "unknown"},
            "aptel is not an operator we sell.",
            "aptel جزو اپراتورهایی که می‌فروشیم نیست.",
        ),
        (
            {"operator": "irancell", "problem": "disabled"},
            "Irancell is not taking top-ups now.",
            "ایرانسل اکنون شارژ نمی‌پذیرد.",
        ),
        (
            {"product": "old-1gb", "problem": "product_disabled"},
            "The package 1 GB (old) is not on sale now.",
            "بستهٔ 1 گیگ (قدیمی) اکنون فروخته نمی‌شود.",
        ),
        (
            {"product": "old-1gb", "problem": "product_operator", "operator": "irancell", "product_operator": "mci"},
            "1 GB (old) is a package of MCI, not of Irancell.",
            "1 گیگ (قدیمی) بستهٔ همراه اول است، نه ایرانسل.",
        ),
        (
            {"product": "old-1gb", "problem": "product_amount", "amount": 50_000},
            "1 GB (old) costs 50,000 rials; leave the amount empty.",
            "قیمت 1 گیگ (قدیمی) 50,000 ریال است؛ مبلغ را خالی بگذارید.",
        ),
    ],
)
def test_every_operator_refusal_is_worded_in_both_languages(refusal, english, persian):
    names = {
        "en": ({"mci": "MCI", "irancell": "Irancell"}, {"old-1gb": "1 GB (old)"}),
        "fa": ({"mci": "همراه اول", "irancell": "ایرانسل"}, {"old-1gb": "1 گیگ (قدیمی)"}),
    }
    for language, expected in (("en", english), ("fa", persian)):
        operators, products = names[language]
        with translation.override(language):
            errors = operator_refusal_errors(refusal, operators=operators, products=products)
        assert [text for problems in errors.values() for text in problems] == [expected]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, text",
    [
        ("fa", "فروخته نشد: این فرم پیش‌تر برای فروش دیگری فرستاده شده است. فهرست زیر را ببینید و دوباره بفروشید."),
        ("en", "Not sold: this form was already sent for another sale. Check the list below, then sell again."),
    ],
)
def test_a_form_sent_again_with_other_values_is_told_in_the_pages_words(language, text, seller_a, portal_client):
    client = _client(portal_client, seller_a, language)
    form = _sale(client, MCI, "20000")
    assert client.post("/portal/recharges/", form).status_code == 302
    page = client.post("/portal/recharges/", {**form, "amount": "30000"}, follow=True).content.decode()
    assert re.findall(r'<li class="([^"]*)">([^<]*)</li>', page) == [("idempotency_key_reused error", text)]
    assert seller_a.recharges.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error, language, text",
    [
        (ServiceUnavailable(), "fa", "فروخته نشد: سامانه شلوغ است و چیزی ثبت نشد. چند لحظه بعد دوباره تلاش کنید."),
        (ServiceUnavailable(), "en", "Not sold: the service is busy and nothing was written. Try again in a moment."),
        (
            OutcomeUnknown(),
            "fa",
            "ارتباط در میانهٔ فروش قطع شد: شاید فروش انجام شده باشد. پیش از فروش دوباره، فهرست زیر را ببینید.",
        ),
        (
            OutcomeUnknown(),
            "en",
            "The connection was lost during the sale: it may have gone through. Check the list below before selling again.",
        ),
    ],
)
def test_a_sale_the_database_could_not_answer_is_told_in_the_pages_words(
    error, language, text, seller_a, portal_client, monkeypatch
):
    def unavailable(**_):
        raise error

    monkeypatch.setattr("portal.views.sell_recharge", unavailable)
    client = _client(portal_client, seller_a, language)
    page = client.post("/portal/recharges/", _sale(client, MCI, "20000"), follow=True).content.decode()
    assert re.findall(r'<li class="([^"]*)">([^<]*)</li>', page) == [("service_unavailable error", text)]
