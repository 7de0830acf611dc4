"""The portal's date filters (portal/forms.py DayField): Tehran days, typed
as Jalali days under Persian (Latin or Persian digits) with a Jalali picker
served from this server, as ISO days under English."""

import pytest

from tests.helpers.tehran_days import DAY_AFTER, DAY_BEFORE, HALF_PAST_MIDNIGHT, recharges_around_midnight
from tests.portal.helpers import with_password


@pytest.fixture
def seller(make_seller):
    seller = make_seller(name="Shop J")
    with_password(seller.user)
    return seller


@pytest.fixture
def ids(seller):
    return recharges_around_midnight(seller)


@pytest.fixture
def client_in(seller, portal_client):
    def make(language):
        client = portal_client(seller.user)
        client.cookies["django_language"] = language
        return client

    return make


def recharges(response) -> list[int]:
    assert response.status_code == 200
    return sorted(recharge.pk for recharge in response.context["page"].items)


def statement(response) -> list[int]:
    assert response.status_code == 200
    return [entry.amount for entry in response.context["page"].items]


@pytest.mark.parametrize("day", ["1405/09/16", "۱۴۰۵/۰۹/۱۶", "1405-9-16"])
def test_a_jalali_day_returns_that_tehran_days_rows(client_in, ids, day):
    client = client_in("fa")
    assert recharges(client.get("/portal/recharges/", {"date_from": day, "date_to": day})) == [ids[HALF_PAST_MIDNIGHT]]
    assert statement(client.get("/portal/statement/", {"date_from": day, "date_to": day})) == [-2_000]


def test_an_iso_day_returns_that_tehran_days_rows_under_english(client_in, ids):
    client = client_in("en")
    day = {"date_from": "2026-12-07", "date_to": "2026-12-07"}
    assert recharges(client.get("/portal/recharges/", day)) == [ids[HALF_PAST_MIDNIGHT]]
    two_days = {"date_from": "2026-12-06", "date_to": "2026-12-07"}
    assert recharges(client.get("/portal/recharges/", two_days)) == sorted([ids[DAY_BEFORE], ids[HALF_PAST_MIDNIGHT]])
    assert recharges(client.get("/portal/recharges/", {"date_from": "2026-12-08"})) == [ids[DAY_AFTER]]


def test_a_link_keeps_its_days_in_the_other_language(client_in, ids):
    # The year tells the calendar: a Jalali day under English, an ISO day under Persian.
    assert recharges(client_in("en").get("/portal/recharges/", {"date_from": "1405/09/17"})) == [ids[DAY_AFTER]]
    assert recharges(client_in("fa").get("/portal/recharges/", {"date_from": "2026-12-08"})) == [ids[DAY_AFTER]]


def test_the_statement_csv_reads_jalali_days_too(client_in, ids):
    response = client_in("fa").get("/portal/statement.csv", {"date_from": "۱۴۰۵/۰۹/۱۶", "date_to": "1405/09/16"})
    rows = b"".join(response.streaming_content).decode().splitlines()
    assert [row.split(",")[1:4] for row in rows[1:]] == [["2026-12-06T21:00:00.000000Z", "recharge", "-2000"]]


@pytest.mark.parametrize("day", ["1405/12/30", "1405/13/01", "16/09/1405", "۱۴۰۵/۰۹"])
def test_a_day_that_is_none_is_a_form_error(client_in, ids, day):
    response = client_in("fa").get("/portal/recharges/", {"date_from": day})
    assert response.status_code == 200 and response.context["page"] is None
    assert response.context["form"].errors["date_from"] == ["یک تاریخ معتبر وارد کنید."]  # "Enter a valid date."


def test_a_day_out_of_range_is_a_form_error(client_in, ids):
    response = client_in("fa").get("/portal/recharges/", {"date_from": "1200/01/01"})  # 1821-03-21
    (error,) = response.context["form"].errors["date_from"]
    assert "1900-01-01" in error and "9999-12-30" in error


def test_persian_pages_have_a_jalali_picker_served_here(client_in, ids):
    html = client_in("fa").get("/portal/recharges/", {"date_from": "2026-12-08"}).content.decode()
    assert 'type="text" name="date_from" value="2026-12-08"' in html  # what was typed stays as typed
    assert "data-jdp" in html and 'placeholder="1405/09/16"' in html and 'type="date"' not in html
    assert '<script src="/static/admin/js/django_jalali.min.js">' in html
    assert "https://" not in html.split("<body", 1)[1]  # no CDN
    for path in ("/static/admin/js/django_jalali.min.js", "/static/admin/css/django_jalali.min.css"):
        assert client_in("fa").get(path).status_code == 200


def test_english_pages_keep_the_browsers_iso_date_box(client_in, ids):
    html = client_in("en").get("/portal/statement/").content.decode()
    assert 'type="date" name="date_from"' in html
    assert "data-jdp" not in html and "django_jalali" not in html
