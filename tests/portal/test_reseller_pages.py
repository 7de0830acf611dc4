"""Contract v1.2 in the portal: the commission earned today and this month,
each recharge's commission as the API renders it, the sale form's fixed
amounts and packages, refusals worded in both languages, and the low-balance
notice at its threshold."""

import json
import re
from datetime import date, timedelta

import jdatetime
import pytest
from django.db.models import Sum
from django.utils import dateformat
from rest_framework.test import APIClient

from config.dates import month_first
from ledger.models import LedgerEntry
from portal import catalogue, selectors
from recharges.delivery import resolve_recharge
from recharges.models import Operator, Recharge
from recharges.operators import detect_operator
from recharges.phone_numbers import InvalidPhoneNumber, to_e164
from recharges.services import sell_recharge
from sellers.models import Seller
from sellers.services import issue_api_token
from tests.portal.conftest import START_BALANCE
from tests.portal.helpers import MCI_DENOMINATIONS, PACKAGE, PACKAGE_AMOUNT, mci_catalogue, set_commission_rates

MCI, IRANCELL = "+989121234567", "+989351234567"


def _csrf(client) -> str:
    return client.cookies["csrftoken"].value


def _sale_form(client, **fields) -> dict:
    page = client.get("/portal/recharges/").content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    return {"idempotency_key": key, "csrfmiddlewaretoken": _csrf(client), **fields}


def _in_persian(client):
    client.cookies["django_language"] = "fa"  # what the language switch sets
    return client


def _sold(seller, phone, amount=None, product=None) -> int:
    result = sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount, product=product)
    assert result.status_code == 201, result.body
    return json.loads(result.body)["id"]


def _figure(page: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}">([^<]*)<', page).group(1)


def _messages(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<li class="([^"]*)">([^<]*)</li>', page)


def _nothing_written(seller, recharges: int = 0, balance: int = START_BALANCE, entries: int = 1) -> None:
    seller.refresh_from_db()
    assert seller.balance == balance
    assert Recharge.objects.filter(seller=seller).count() == recharges
    assert LedgerEntry.objects.filter(seller=seller).count() == entries


@pytest.fixture
def earning(seller_a, staff_user):
    """Seller A at 2.5 % on MCI and 3 % on Irancell: two successful sales, a failed one and a pending one."""
    set_commission_rates(seller_a, {"mci": 250, "irancell": 300})
    ids = [_sold(seller_a, MCI, 50_000), _sold(seller_a, IRANCELL, 33_333), _sold(seller_a, MCI, 20_000)]
    ids.append(_sold(seller_a, MCI, 10_000))
    resolve_recharge(recharge_id=ids[0], successful=True, operator_reference="MCI-1", resolved_by=staff_user)
    resolve_recharge(recharge_id=ids[1], successful=True, operator_reference="MTN-2", resolved_by=staff_user)
    resolve_recharge(recharge_id=ids[2], successful=False, resolved_by=staff_user)
    return ids


# floor(50,000 * 250 / 10,000) + floor(33,333 * 300 / 10,000) = 1,250 + 999
EARNED = 1_250 + 999


@pytest.mark.django_db
def test_the_dashboard_shows_the_commission_earned_today_and_this_month(seller_a, earning, portal_client):
    assert LedgerEntry.objects.filter(seller=seller_a, kind="commission").aggregate(s=Sum("amount"))["s"] == EARNED
    page = portal_client(seller_a.user).get("/portal/").content.decode()
    assert (_figure(page, "commission-today"), _figure(page, "commission-month")) == ("2,249", "2,249")
    assert _figure(page, "balance") == f"{START_BALANCE - 50_000 - 33_333 - 10_000 + EARNED:,}"


@pytest.mark.django_db
def test_earnings_count_by_business_day_and_month(seller_a, earning):
    (created,) = {
        moment.astimezone(selectors.business_time_zone()).date()
        for moment in LedgerEntry.objects.filter(kind="commission").values_list("created_at", flat=True)
    }  # one test transaction: one now()

    def earned(today, *, jalali=False):
        month = month_first(today, jalali=jalali)
        return selectors.commission_earned(seller_id=seller_a.pk, today=today, month_first=month)

    assert earned(created) == {"today": EARNED, "month": EARNED}
    assert earned(created, jalali=True) == {"today": EARNED, "month": EARNED}
    assert earned(created - timedelta(days=1)) == {"today": 0, "month": 0}  # the day before: not yet
    for jalali in (False, True):
        tomorrow = created + timedelta(days=1)
        same_month = month_first(tomorrow, jalali=jalali) <= created
        assert earned(tomorrow, jalali=jalali) == {"today": 0, "month": EARNED if same_month else 0}
    next_month = month_first(created + timedelta(days=31), jalali=False)
    assert earned(next_month) == {"today": 0, "month": 0}
    assert selectors.commission_earned(seller_id=seller_a.pk, today=created, month_first=created) == {
        "today": EARNED,
        "month": EARNED,
    }


@pytest.mark.parametrize(
    "day, gregorian, jalali",
    [
        ("2026-12-07", "2026-12-01", "2026-11-22"),  # 16 Azar 1405 -> 1 Azar
        ("2026-11-22", "2026-11-01", "2026-11-22"),  # 1 Azar itself
        ("2026-11-21", "2026-11-01", "2026-10-23"),  # 30 Aban -> 1 Aban
        ("2027-03-21", "2027-03-01", "2027-03-21"),  # Nowruz, 1 Farvardin 1406
        ("2027-03-20", "2027-03-01", "2027-02-20"),  # 29 Esfand 1405 -> 1 Esfand
    ],
)
def test_month_first_in_both_calendars(day, gregorian, jalali):
    assert month_first(date.fromisoformat(day), jalali=False) == date.fromisoformat(gregorian)
    assert month_first(date.fromisoformat(day), jalali=True) == date.fromisoformat(jalali)


@pytest.mark.django_db
def test_the_month_is_named_in_the_pages_calendar(seller_a, portal_client):
    client = portal_client(seller_a.user)
    today = selectors.business_today()
    english = client.get("/portal/").content.decode()
    assert f"Commission in {dateformat.format(today, 'F Y')}" in english
    persian = _in_persian(client).get("/portal/").content.decode()
    month = jdatetime.date.fromgregorian(date=today, locale="fa_IR").strftime("%B %Y")
    assert f"پورسانت {month}" in persian
    assert (_figure(persian, "commission-today"), _figure(persian, "commission-month")) == ("0", "0")


@pytest.mark.django_db
def test_each_recharge_shows_the_commission_the_api_shows(seller_a, earning, portal_client):
    page = portal_client(seller_a.user).get("/portal/recharges/").content.decode()
    shown = {
        int(recharge_id): commission
        for recharge_id, commission in re.findall(
            r'/portal/recharges/(\d+)/">.*?<td class="num commission">([^<]*)</td>', page, re.S
        )
    }
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=seller_a.user)}")
    bodies = api.get("/api/v1/recharges/").json()["results"]
    assert shown == {body["id"]: f"{body['commission']:,}" for body in bodies}
    assert [shown[recharge_id] for recharge_id in earning] == ["1,250", "999", "0", "0"]


@pytest.mark.django_db
def test_a_recharge_page_shows_its_rate_and_commission(seller_a, earning, portal_client):
    client = portal_client(seller_a.user)
    page = client.get(f"/portal/recharges/{earning[0]}/").content.decode()
    assert (_figure(page, "commission-rate"), _figure(page, "commission")) == ("2.5%", "1,250")
    pending = client.get(f"/portal/recharges/{earning[3]}/").content.decode()
    assert _figure(pending, "commission") == "0" and "paid once the recharge succeeds" in pending


@pytest.mark.django_db
def test_commission_entries_are_labelled_in_the_statement(seller_a, earning, portal_client):
    client = portal_client(seller_a.user)
    page = client.get("/portal/statement/?kind=commission").content.decode()
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td class="date">[^<]*</td><td>([^<]*)</td>', page)
    assert [kind for _, kind in rows] == ["commission", "commission"]
    assert '<option value="commission" selected>commission</option>' in page
    persian = _in_persian(client).get("/portal/statement/?kind=commission").content.decode()
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td class="date">[^<]*</td><td>([^<]*)</td>', persian)
    assert [kind for _, kind in rows] == ["پورسانت", "پورسانت"]


def _embedded_catalogue(page: str) -> dict:
    return json.loads(re.search(r'<script id="sale-catalogue" type="application/json">(.*?)</script>', page).group(1))


@pytest.mark.django_db
def test_the_sale_form_embeds_what_each_operator_sells(seller_a, portal_client):
    mci_catalogue()
    Operator.objects.filter(code="rightel").update(enabled=False)
    client = portal_client(seller_a.user)
    page = client.get("/portal/recharges/").content.decode()
    offered = _embedded_catalogue(page)
    assert offered["operators"]["mci"] == {"name": "MCI (Hamrah-e Aval)", "denominations": MCI_DENOMINATIONS}
    assert offered["operators"]["irancell"]["denominations"] is None
    assert "rightel" not in offered["operators"]
    assert offered["products"] == {  # the disabled package is not offered
        "mci-1gb-30d": {"operator": "mci", "amount": 50_000},
        "mci-10gb-30d": {"operator": "mci", "amount": 300_000},
        "irancell-2gb-7d": {"operator": "irancell", "amount": 70_000},
    }
    assert offered["default_operator"] == "mci"
    assert '<optgroup label="MCI (Hamrah-e Aval)">' in page
    assert '<option value="mci-1gb-30d">1 GB, 30 days, 50,000 rials</option>' in page
    persian = _in_persian(client).get("/portal/recharges/").content.decode()
    assert _embedded_catalogue(persian)["operators"]["mci"]["name"] == "همراه اول"
    assert '<optgroup label="همراه اول">' in persian
    # Staff typed the Persian name with Persian digits; pages write Latin ones.
    assert '<option value="mci-1gb-30d">1 گیگابایت، 30 روزه، 50,000 ریال</option>' in persian
    Operator.objects.filter(code="irancell").update(enabled=False)  # its packages go with it
    assert "irancell-2gb-7d" not in _embedded_catalogue(client.get("/portal/recharges/").content.decode())["products"]


def test_the_embedded_prefixes_pick_the_operator_the_server_detects(settings):
    """The script's rule (longest listed prefix of the number's E.164 digits,
    else the default operator), applied to a number of every 3-digit block
    after +989: prefixes are at most 6 digits, so this covers them all."""
    for default in ("mci", "rightel"):
        settings.DEFAULT_OPERATOR = default
        prefixes = catalogue.operator_prefixes()
        checked = 0
        for block in range(1000):
            try:
                e164 = to_e164(f"09{block:03d}234567")
            except InvalidPhoneNumber:
                continue
            digits = e164[1:]
            picked = next((prefixes[digits[:n]] for n in range(len(digits), 0, -1) if digits[:n] in prefixes), default)
            assert picked == detect_operator(e164), e164
            checked += 1
        assert checked > 100


@pytest.mark.django_db
def test_a_package_sold_through_the_form(seller_a, staff_user, portal_client):
    mci_catalogue()
    set_commission_rates(seller_a, {"mci": 250})
    client = portal_client(seller_a.user)
    response = client.post("/portal/recharges/", _sale_form(client, phone_number="0912 123 4567", product=PACKAGE))
    assert (response.status_code, response["Location"]) == (302, "/portal/recharges/")
    recharge = Recharge.objects.get(seller=seller_a)
    assert (recharge.product, recharge.amount, recharge.operator, recharge.commission_rate) == (
        PACKAGE,
        PACKAGE_AMOUNT,
        "mci",
        250,
    )
    _nothing_written(seller_a, recharges=1, balance=START_BALANCE - PACKAGE_AMOUNT, entries=2)
    page = client.get("/portal/recharges/").content.decode()
    assert '<div class="muted product">1 GB, 30 days</div>' in page
    resolve_recharge(recharge_id=recharge.pk, successful=True, operator_reference="MCI-9", resolved_by=staff_user)
    detail = client.get(f"/portal/recharges/{recharge.pk}/").content.decode()
    assert (_figure(detail, "product"), _figure(detail, "commission")) == ("1 GB, 30 days", "1,250")
    assert _figure(client.get("/portal/").content.decode(), "commission-today") == "1,250"
    _nothing_written(seller_a, recharges=1, balance=START_BALANCE - PACKAGE_AMOUNT + 1_250, entries=3)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields, error",
    [
        ({"product": PACKAGE, "amount": "50000"}, "A package has its own amount: leave the amount empty."),
        ({}, "Enter an amount, or choose a package."),
        ({"product": "mci-old"}, "Select a valid choice."),  # disabled: not offered
        ({"product": "nonsense"}, "Select a valid choice."),
    ],
)
def test_a_package_or_an_amount_not_both_nor_neither(fields, error, seller_a, portal_client):
    mci_catalogue()
    client = portal_client(seller_a.user)
    response = client.post("/portal/recharges/", _sale_form(client, phone_number=MCI, **fields))
    assert response.status_code == 400
    assert error in response.content.decode()
    _nothing_written(seller_a)


def _refused(client, language="en", **fields) -> tuple[str, str]:
    if language == "fa":
        _in_persian(client)
    page = client.post("/portal/recharges/", _sale_form(client, **fields), follow=True).content.decode()
    (message,) = _messages(page)
    return message


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "Not sold: a single recharge may be at most 20,000 rials, and this one is 25,000 rials."),
        ("fa", "فروخته نشد: سقف هر شارژ 20,000 ریال است و این شارژ 25,000 ریال است."),
    ],
)
def test_a_sale_over_the_largest_amount_is_refused_in_words(language, text, seller_a, portal_client):
    Seller.objects.filter(pk=seller_a.pk).update(max_recharge_amount=20_000)
    client = portal_client(seller_a.user)
    tags, message = _refused(client, language, phone_number=MCI, amount="25000")
    assert (tags, message) == ("limit_exceeded error", text)
    _nothing_written(seller_a)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, text",
    [
        (
            "en",
            "Not sold: your daily limit is 30,000 rials, 20,000 rials of it are already sold today, "
            "and this sale would pass it.",
        ),
        (
            "fa",
            "فروخته نشد: سقف فروش روزانهٔ شما 30,000 ریال است، 20,000 ریال از آن امروز فروخته شده و این فروش از آن می‌گذرد.",
        ),
    ],
)
def test_a_sale_over_the_daily_amount_is_refused_in_words(language, text, seller_a, portal_client):
    Seller.objects.filter(pk=seller_a.pk).update(daily_amount=30_000)
    _sold(seller_a, IRANCELL, 20_000)
    client = portal_client(seller_a.user)
    assert _refused(client, language, phone_number=MCI, amount="15000") == ("limit_exceeded error", text)
    _nothing_written(seller_a, recharges=1, balance=START_BALANCE - 20_000, entries=2)
    # Exactly up to the limit still sells.
    assert client.post("/portal/recharges/", _sale_form(client, phone_number=MCI, amount="10000")).status_code == 302
    _nothing_written(seller_a, recharges=2, balance=START_BALANCE - 30_000, entries=3)


# The number's hourly count is refused by raising inside the sale statement,
# which aborts the test's transaction: this one runs on committed data.
@pytest.mark.django_db(transaction=True)
def test_a_sale_over_the_numbers_hourly_count_is_refused_in_words(seller_a, portal_client):
    Seller.objects.filter(pk=seller_a.pk).update(number_hourly_count=1)
    _sold(seller_a, MCI, 5_000)
    client = portal_client(seller_a.user)
    english = _refused(client, phone_number="0912-123-4567", amount="5000")
    assert english == (
        "limit_exceeded error",
        "Not sold: this number has reached its limit of recharges an hour (1; 1 in the last hour).",
    )
    persian = _refused(client, "fa", phone_number=MCI, amount="5000")
    assert persian == (
        "limit_exceeded error",
        "فروخته نشد: این شماره به سقف تعداد شارژ در هر ساعت رسیده است (1؛ 1 در یک ساعت گذشته).",
    )
    _nothing_written(seller_a, recharges=1, balance=START_BALANCE - 5_000, entries=2)
    assert (
        client.post("/portal/recharges/", _sale_form(client, phone_number=IRANCELL, amount="5000")).status_code == 302
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "Not sold: your balance of 1,000,000 rials does not cover 1,000,001 rials. Ask for a top-up."),
        (
            "fa",
            "فروخته نشد: موجودی شما 1,000,000 ریال است و 1,000,001 ریال را پوشش نمی‌دهد. درخواست افزایش اعتبار بدهید.",
        ),
    ],
)
def test_a_sale_over_the_balance_is_refused_in_words(language, text, seller_a, portal_client):
    client = portal_client(seller_a.user)
    tags, message = _refused(client, language, phone_number=MCI, amount="1000001")
    assert (tags, message) == ("insufficient_balance error", text)
    _nothing_written(seller_a)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "threshold, shown",
    [(None, False), (START_BALANCE, False), (START_BALANCE + 1, True)],
)
@pytest.mark.parametrize("path", ["/portal/", "/portal/statement/", "/portal/recharges/"])
def test_the_low_balance_notice_shows_below_the_threshold_only(threshold, shown, path, seller_a, portal_client):
    Seller.objects.filter(pk=seller_a.pk).update(low_balance_threshold=threshold)
    client = portal_client(seller_a.user)
    page = client.get(path).content.decode()
    assert ('id="low-balance"' in page) is shown
    if shown:
        assert "Low balance: 1,000,000 rials, below your alert level of 1,000,001 rials." in page
        persian = _in_persian(client).get(path).content.decode()
        assert "موجودی کم: 1,000,000 ریال، کمتر از سطح هشدار شما یعنی 1,000,001 ریال." in persian


@pytest.mark.django_db
def test_the_low_balance_notice_follows_the_balance(seller_a, staff_user, portal_client):
    Seller.objects.filter(pk=seller_a.pk).update(low_balance_threshold=990_000)
    client = portal_client(seller_a.user)
    client.post("/portal/recharges/", _sale_form(client, phone_number=MCI, amount="10000"))
    assert 'id="low-balance"' not in client.get("/portal/").content.decode()  # 990,000: at the threshold
    client.post("/portal/recharges/", _sale_form(client, phone_number=MCI, amount="1"))
    assert 'id="low-balance"' in client.get("/portal/").content.decode()  # 989,999
    resolve_recharge(
        recharge_id=Recharge.objects.filter(seller=seller_a).latest("id").pk, successful=False, resolved_by=staff_user
    )
    assert 'id="low-balance"' not in client.get("/portal/").content.decode()  # the refund brought it back
