"""Staff set a seller's limits and commission rates on its admin page: good
values are stored exactly, bad ones are form errors with nothing written."""

import pytest
from django.contrib.auth import get_user_model

from recharges.models import CommissionRate, Recharge
from recharges.services import sell_recharge
from sellers.models import Seller

RATES = "commission_rates"


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def form(seller, rates=(), existing=(), **limits) -> dict:
    """The change form's POST: name, user, the four limits (empty: none) and
    the rates inline (`existing` rows first, as the page lists them)."""
    data = {"user": seller.user_id, "name": seller.name, "_save": "Save"}
    for name in ("max_recharge_amount", "daily_amount", "number_hourly_count", "low_balance_threshold"):
        value = limits.get(name)
        data[name] = "" if value is None else str(value)
    rows = [*existing, *rates]
    data |= {f"{RATES}-TOTAL_FORMS": len(rows), f"{RATES}-INITIAL_FORMS": len(existing)}
    for index, row in enumerate(rows):
        data |= {f"{RATES}-{index}-seller": seller.pk, f"{RATES}-{index}-operator": row[0]}
        data[f"{RATES}-{index}-rate"] = row[1]
        if len(row) > 2:
            data[f"{RATES}-{index}-id"] = row[2]
    return data


def url(seller) -> str:
    return f"/admin/sellers/seller/{seller.pk}/change/"


def stored(seller) -> tuple:
    seller = Seller.objects.get(pk=seller.pk)
    limits = (seller.max_recharge_amount, seller.daily_amount, seller.number_hourly_count, seller.low_balance_threshold)
    return limits, dict(CommissionRate.objects.filter(seller=seller).values_list("operator", "rate"))


def test_the_page_shows_the_limits_fieldset_and_the_rates(admin_client, make_seller):
    seller = make_seller(name="Shop")
    CommissionRate.objects.create(seller=seller, operator_id="mci", rate=250)
    page = admin_client.get(url(seller)).content.decode()
    assert "<h2" in page and ">Limits<" in page
    for name in ("max_recharge_amount", "daily_amount", "number_hourly_count", "low_balance_threshold"):
        assert f'name="{name}"' in page
    # The day's running total is shown, never edited.
    assert "Daily amount used" in page and 'name="daily_amount_used"' not in page
    assert 'name="daily_amount_day"' not in page
    assert f'name="{RATES}-0-rate" value="250"' in page
    # The add page has neither: rates belong to a seller that exists.
    add = admin_client.get("/admin/sellers/seller/add/").content.decode()
    assert RATES not in add and 'name="daily_amount"' not in add


def test_staff_set_limits_and_rates(admin_client, make_seller):
    seller = make_seller(name="Shop", balance=10_000)
    response = admin_client.post(
        url(seller),
        form(
            seller,
            rates=[("mci", 250), ("irancell", 10_000)],
            max_recharge_amount=500_000,
            daily_amount=2_000_000,
            number_hourly_count=3,
            low_balance_threshold=100_000,
        ),
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert stored(seller) == ((500_000, 2_000_000, 3, 100_000), {"mci": 250, "irancell": 10_000})
    # The balance is not the form's: it is still the ledger's.
    assert Seller.objects.get(pk=seller.pk).balance == 10_000

    # Change one rate, remove one limit.
    mci = CommissionRate.objects.get(seller=seller, operator="mci")
    irancell = CommissionRate.objects.get(seller=seller, operator="irancell")
    data = form(
        seller,
        existing=[("mci", 300, mci.pk), ("irancell", 10_000, irancell.pk)],
        max_recharge_amount=500_000,
        number_hourly_count=3,
        low_balance_threshold=100_000,
    )
    assert admin_client.post(url(seller), data).status_code == 302
    assert stored(seller) == ((500_000, None, 3, 100_000), {"mci": 300, "irancell": 10_000})


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"max_recharge_amount": 0}, "max_recharge_amount"),
        ({"daily_amount": -5}, "daily_amount"),
        ({"number_hourly_count": 0}, "number_hourly_count"),
        ({"low_balance_threshold": -1}, "low_balance_threshold"),
        ({"max_recharge_amount": 10**15 + 1}, "max_recharge_amount"),
        ({"daily_amount": "1.5"}, "daily_amount"),
    ],
)
def test_a_bad_limit_is_a_form_error(admin_client, make_seller, limits, field):
    seller = make_seller(name="Shop")
    Seller.objects.filter(pk=seller.pk).update(daily_amount=1_000)
    response = admin_client.post(url(seller), form(seller, rates=[("mci", 100)], **{"daily_amount": 1_000, **limits}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert stored(seller) == ((None, 1_000, None, None), {})


@pytest.mark.parametrize(
    "rates",
    [[("mci", 10_001)], [("mci", -1)], [("mci", "")], [("mci", 100), ("mci", 200)], [("nope", 100)]],
    ids=["above-10000", "negative", "empty", "duplicate-operator", "unknown-operator"],
)
def test_a_bad_rate_is_a_form_error(admin_client, make_seller, rates):
    seller = make_seller(name="Shop")
    response = admin_client.post(url(seller), form(seller, rates=rates, daily_amount=7_000))
    assert response.status_code == 200
    (formset,) = response.context["inline_admin_formsets"]
    assert not formset.formset.is_valid()
    assert stored(seller) == ((None, None, None, None), {})


def test_a_rate_for_an_operator_already_set_is_a_form_error(admin_client, make_seller):
    seller = make_seller(name="Shop")
    existing = CommissionRate.objects.create(seller=seller, operator_id="mci", rate=250)
    data = form(seller, existing=[("mci", 250, existing.pk)], rates=[("mci", 400)])
    response = admin_client.post(url(seller), data)
    assert response.status_code == 200
    (formset,) = response.context["inline_admin_formsets"]
    assert formset.formset.non_form_errors() == ["Please correct the duplicate data for operator."]
    assert stored(seller) == ((None, None, None, None), {"mci": 250})


def test_a_rate_set_in_the_admin_is_the_next_sales(admin_client, make_seller):
    """The sale copies the rate the admin stored; a sale made before keeps its own."""
    seller = make_seller(name="Shop", balance=100_000)
    sell_recharge(seller_id=seller.pk, phone_number="+989121234567", amount=10_000)
    assert admin_client.post(url(seller), form(seller, rates=[("mci", 150)])).status_code == 302
    sell_recharge(seller_id=seller.pk, phone_number="+989121234568", amount=10_000)
    assert list(Recharge.objects.filter(seller=seller).order_by("pk").values_list("commission_rate", flat=True)) == [
        0,
        150,
    ]


def test_a_sellers_login_cannot_be_changed_once_made(admin_client, make_seller):
    """Its balance goes with it: a change of user would hand the account to
    another login. Shown, never edited; a user posted anyway is ignored."""
    seller = make_seller(name="Shop", balance=10_000)
    other = get_user_model().objects.create_user("someone-else")
    page = admin_client.get(url(seller)).content.decode()
    assert 'name="user"' not in page and seller.user.username in page
    response = admin_client.post(url(seller), {**form(seller), "user": other.pk, "name": "Shop 2"})
    assert response.status_code == 302
    assert Seller.objects.values_list("user", "name").get(pk=seller.pk) == (seller.user_id, "Shop 2")
    assert 'name="user"' in admin_client.get("/admin/sellers/seller/add/").content.decode()  # chosen when made
