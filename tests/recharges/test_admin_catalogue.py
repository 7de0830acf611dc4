"""The v1.2 admin: data packages, operators' Persian names and
denominations, and each recharge's product, rate and commission (the SQL
function's, shown as the API shows it), through the real admin."""

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model

from ledger.models import LedgerEntry
from recharges.delivery import resolve_recharge
from recharges.models import CommissionRate, Operator, Product, Recharge
from recharges.services import sell_recharge
from tests.helpers.sellers import client_for

API = "/api/v1"


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def packages(db):
    return [
        Product.objects.create(
            code="mci-1gb",
            operator_id="mci",
            name="1 GB",
            name_fa="۱ گیگ",
            amount=1_250_000,
            data_mb=1024,
            validity_days=30,
        ),
        Product.objects.create(
            code="mtn-5gb",
            operator_id="irancell",
            name="5 GB",
            name_fa="۵ گیگ",
            amount=4_000_000,
            data_mb=5120,
            validity_days=30,
            enabled=False,
        ),
    ]


def product_rows(html: str) -> list[tuple[str, ...]]:
    """The list's rows: code, operator, name, name_fa, amount, data, validity."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = dict(re.findall(r'class="field-(\w+)[^"]*"[^>]*>(.*?)</t[dh]>', row, re.S))
        names = ("code", "operator", "name", "name_fa", "amount_display", "data_mb", "validity_days")
        rows.append(tuple(re.sub(r"<[^>]+>", "", cells[name]).strip() for name in names))
    return rows


def readonly_values(page: str) -> dict[str, str]:
    """A change page's read-only fields: label -> text."""
    fields = re.findall(r'<label>([^<]+):</label>\s*<div class="readonly">(.*?)</div>', page)
    return {label: re.sub(r"<[^>]+>", "", value) for label, value in fields}


def product_form(**values) -> dict:
    data = {
        "code": "mci-2gb",
        "operator": "mci",
        "name": "2 GB",
        "name_fa": "۲ گیگ",
        "amount": "2000000",
        "data_mb": "2048",
        "validity_days": "30",
        "enabled": "on",
        "_save": "Save",
    }
    return {**data, **{name: str(value) for name, value in values.items()}}


def test_the_product_list_shows_amounts_with_separators_filters_and_searches(admin_client, packages):
    html = admin_client.get("/admin/recharges/product/").content.decode()
    # By operator, then amount (the model's order).
    assert product_rows(html) == [
        ("mtn-5gb", "Irancell", "5 GB", "۵ گیگ", "4,000,000 IRR", "5120", "30"),
        ("mci-1gb", "MCI (Hamrah-e Aval)", "1 GB", "۱ گیگ", "1,250,000 IRR", "1024", "30"),
    ]
    assert [
        row[0]
        for row in product_rows(
            admin_client.get("/admin/recharges/product/?operator__code__exact=mci").content.decode()
        )
    ] == ["mci-1gb"]
    assert [
        row[0] for row in product_rows(admin_client.get("/admin/recharges/product/?enabled__exact=0").content.decode())
    ] == ["mtn-5gb"]
    assert [
        row[0] for row in product_rows(admin_client.get("/admin/recharges/product/", {"q": "۵ گیگ"}).content.decode())
    ] == ["mtn-5gb"]


def test_staff_enable_a_product_from_the_list(admin_client, packages):
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "form-0-code": "mci-1gb",
        "form-0-enabled": "on",
        "form-1-code": "mtn-5gb",
        "form-1-enabled": "on",
        "_save": "Save",
    }
    assert admin_client.post("/admin/recharges/product/", data).status_code == 302
    assert dict(Product.objects.values_list("code", "enabled")) == {"mci-1gb": True, "mtn-5gb": True}


def test_staff_add_a_product(admin_client, db):
    assert admin_client.post("/admin/recharges/product/add/", product_form()).status_code == 302
    assert Product.objects.filter(code="mci-2gb").values("amount", "data_mb", "enabled", "operator").get() == {
        "amount": 2_000_000,
        "data_mb": 2048,
        "enabled": True,
        "operator": "mci",
    }
    # The code is the recharges' name for it: shown, not editable.
    page = admin_client.get("/admin/recharges/product/mci-2gb/change/").content.decode()
    assert 'name="code"' not in page and "mci-2gb" in page


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": 10**15 + 1}, "amount"),
        ({"data_mb": 0}, "data_mb"),
        ({"validity_days": -3}, "validity_days"),
        ({"operator": "nope"}, "operator"),
    ],
)
def test_a_bad_product_is_a_form_error(admin_client, db, values, field):
    response = admin_client.post("/admin/recharges/product/add/", product_form(**values))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Product.objects.exists()


def test_a_product_code_the_database_refuses_is_a_form_error(admin_client, db):
    response = admin_client.post("/admin/recharges/product/add/", product_form(code="MCI-2GB"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Product.objects.exists()


def operator_form(operator: Operator, **values) -> dict:
    data = {
        "name": operator.name,
        "name_fa": operator.name_fa,
        "enabled": "on",
        "min_amount": operator.min_amount,
        "max_amount": operator.max_amount,
        "denominations": "",
        "_save": "Save",
    }
    return {**data, **values}


def test_staff_set_an_operators_persian_name_and_denominations(admin_client, db):
    mci = Operator.objects.get(code="mci")
    url = "/admin/recharges/operator/mci/change/"
    data = operator_form(mci, name_fa="همراه اول", min_amount=10_000, denominations="50000,10000,20000,10000")
    assert admin_client.post(url, data).status_code == 302
    mci.refresh_from_db()
    # Sorted, each once.
    assert (mci.name_fa, mci.denominations) == ("همراه اول", [10_000, 20_000, 50_000])
    listing = admin_client.get("/admin/recharges/operator/").content.decode()
    assert "همراه اول" in listing and "10,000, 20,000, 50,000" in listing

    # Emptied: any amount again.
    assert admin_client.post(url, operator_form(mci, min_amount=10_000)).status_code == 302
    mci.refresh_from_db()
    assert mci.denominations is None


@pytest.mark.parametrize("denominations", ["5000,20000", "10000,abc", "10000,-5"])
def test_bad_denominations_are_a_form_error(admin_client, db, denominations):
    mci = Operator.objects.get(code="mci")
    data = operator_form(mci, min_amount=10_000, denominations=denominations)
    response = admin_client.post("/admin/recharges/operator/mci/change/", data)
    assert response.status_code == 200
    assert "denominations" in response.context["adminform"].form.errors
    assert Operator.objects.values_list("min_amount", "denominations").get(code="mci") == (1, None)


def test_a_min_above_the_max_is_a_form_error(admin_client, db):
    mci = Operator.objects.get(code="mci")
    data = operator_form(mci, min_amount=50_000, max_amount=10_000)
    response = admin_client.post("/admin/recharges/operator/mci/change/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Operator.objects.values_list("min_amount", "max_amount").get(code="mci") == (1, mci.max_amount)


@pytest.fixture
def sold(make_seller, staff_user, packages):
    """Four recharges of one seller at 2.5 % on mci, 4 % on irancell: a
    package delivered, airtime delivered, airtime failed, airtime pending."""
    seller = make_seller(name="Commissioned", balance=10_000_000)
    CommissionRate.objects.create(seller=seller, operator_id="mci", rate=250)
    CommissionRate.objects.create(seller=seller, operator_id="irancell", rate=400)
    sales = [
        ("+989121234567", None, "mci-1gb"),
        ("+989351234567", 33_333, None),
        ("+989121234568", 70_000, None),
        ("+989121234569", 9_999, None),
    ]
    ids = [
        sell_recharge(seller_id=seller.pk, phone_number=phone, amount=amount, product=product).body
        for phone, amount, product in sales
    ]
    recharges = list(Recharge.objects.filter(seller=seller).order_by("pk"))
    assert len(recharges) == len(ids) == 4
    for recharge, successful in zip(recharges[:3], (True, True, False), strict=True):
        resolve_recharge(
            recharge_id=recharge.pk, successful=successful, operator_reference="OP-9", resolved_by=staff_user
        )
    return seller, recharges


def test_recharges_show_product_rate_and_commission_as_the_api(admin_client, sold):
    seller, recharges = sold
    html = admin_client.get("/admin/recharges/recharge/", {"q": seller.name}).content.decode()
    shown = {
        int(rid): (product, rate, commission)
        for rid, product, rate, commission in re.findall(
            r"/admin/recharges/recharge/(\d+)/change/[^>]*>\d+</a>.*?"
            r'class="field-product">([^<]*)<.*?class="field-rate">([^<]*)<.*?class="field-commission_display"><span class="nowrap">([^<]*)<',
            html,
            re.S,
        )
    }
    package, airtime, failed, pending = (r.pk for r in recharges)
    # floor(1,250,000 * 250 / 10,000) = 31,250; floor(33,333 * 400 / 10,000) = 1,333 (1,333.32).
    assert shown == {
        package: ("mci-1gb", "2.5%", "31,250 IRR"),
        airtime: ("-", "4%", "1,333 IRR"),
        failed: ("-", "2.5%", "0 IRR"),
        pending: ("-", "2.5%", "0 IRR"),
    }
    api = client_for(seller.user)
    for recharge in recharges:
        body = api.get(f"{API}/recharges/{recharge.pk}/").json()
        product, rate, commission = shown[recharge.pk]
        assert (body["product"] or "-", f"{body['commission_rate'] / 100:g}%", f"{body['commission']:,} IRR") == (
            product,
            rate,
            commission,
        )
    # The commission shown is the ledger's entry.
    assert dict(LedgerEntry.objects.filter(kind="commission").values_list("recharge_id", "amount")) == {
        package: 31_250,
        airtime: 1_333,
    }


def test_a_recharges_page_shows_its_commission(admin_client, sold):
    _, recharges = sold
    page = admin_client.get(f"/admin/recharges/recharge/{recharges[0].pk}/change/").content.decode()
    readonly = readonly_values(page)
    assert (readonly["Product"], readonly["Commission rate"], readonly["Commission"]) == (
        "mci-1gb",
        "250",
        "31,250 IRR",
    )
    failed = admin_client.get(f"/admin/recharges/recharge/{recharges[2].pk}/change/").content.decode()
    assert readonly_values(failed)["Commission"] == "0 IRR"


def test_the_ledger_admin_lists_filters_and_exports_commission_entries(admin_client, sold):
    seller, recharges = sold
    html = admin_client.get("/admin/ledger/ledgerentry/", {"kind__exact": "commission"}).content.decode()
    assert re.findall(r'class="field-signed_amount"><span class="nowrap">([^<]*)<', html) == [
        "+1,333 IRR",
        "+31,250 IRR",
    ]
    assert "?kind__exact=commission" in admin_client.get("/admin/ledger/ledgerentry/").content.decode()
    ids = list(LedgerEntry.objects.filter(seller=seller).values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/ledger/ledgerentry/",
        {"action": "export_csv", "_selected_action": ids, "select_across": "0", "index": "0"},
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["kind"], int(row["amount"]), row["recharge_id"]) for row in rows if row["kind"] == "commission"] == [
        ("commission", 31_250, str(recharges[0].pk)),
        ("commission", 1_333, str(recharges[1].pk)),
    ]
