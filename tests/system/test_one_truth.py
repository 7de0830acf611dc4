"""One truth: after a generated history (sales on every sandbox ending,
batches, credits approved and rejected, adjustments both ways, refunds, staff
resolutions, callbacks, a sale still pending, commissions at each seller's
rates, a data package), every surface that shows a recharge or a balance says
what the database holds: the API's detail, list and batch views, the callback
events' data, the transactions list and its CSV export, the daily report (the
seller's and the staff's), /me/, the portal's pages and CSV, and the admin's
lists and pages. A recharge's commission is the ledger's commission entry
(none: 0), on every surface that shows one. The platform's float at the
operator is its row (what was prepaid less what was delivered, and what the
pending sales reserve) in the admin's list, the dashboard and the metrics.

Each surface is tested alone elsewhere; this test holds them all to the same
rows, so a surface that renders a stale or different state fails here."""

import csv
import io
import json
import random
import re
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.test import Client

from callbacks.models import CallbackEvent
from callbacks.services import set_callback_url
from credits.services import reject_credit_request, request_credit
from ledger.models import LedgerEntry
from ledger.selectors import reconcile
from ledger.services import adjust_balance
from portal.templatetags.portal_format import money
from recharges.delivery import call_operator, claim_due, record_outcomes, resolve_recharge
from recharges.floats import record_prepayment
from recharges.models import CommissionRate, FloatEntry, OperatorFloat, Product, Recharge
from recharges.services import sell_recharge, sell_recharge_batch
from reports.selectors import business_today
from sellers.models import Seller
from tests.helpers.api import API, all_rows
from tests.helpers.sellers import client_for
from tests.helpers.simulator import SimulatorProcess

ENDINGS = ["0000", "9990", "9991", "9992", "9993", "9994"]
SEED = 18
# Basis points on mci (every number here is mci's) per shop; the third earns nothing.
RATES = [250, 1_234, None]
PACKAGE = "mci-truth-1gb"
PREPAID = 9_000_000  # the float at mci: more than every sale here


@pytest.fixture
def sim(tmp_path):
    simulator = SimulatorProcess(tmp_path / "sim.sqlite3", hang_seconds=2)
    simulator.start()
    yield simulator
    simulator.stop()


def number(ending: str, shop: int) -> str:
    return f"+98912{shop:03d}{ending}"


def sold_id(result) -> int:
    assert result.status_code == 201, result.body
    return json.loads(result.body)["id"]


def ask_and_reject(seller, staff) -> None:
    reject_credit_request(credit_request_id=request_credit(seller_id=seller.pk, amount=999_999).pk, decided_by=staff)


def make_history(sellers, staff, sim, settings) -> dict[str, list[int]]:
    """Every kind of movement for every seller, in a random but seeded order,
    delivered by the worker's own cycle against the simulator."""
    settings.DELIVERY_MAX_BACKOFF_SECONDS = 1
    rng = random.Random(SEED)
    kept = {"resolved": [], "pending": []}
    for shop, seller in enumerate(sellers):
        steps: list[Callable[[], object]] = [
            partial(
                sell_recharge, seller_id=seller.pk, phone_number=number(e, shop), amount=rng.randrange(1_000, 90_000)
            )
            for e in ENDINGS
        ]
        items = [(number(ending, shop), 7_000 + index) for index, ending in enumerate(ENDINGS)]
        steps.append(partial(sell_recharge_batch, seller_id=seller.pk, items=items))
        # A data package, delivered like airtime.
        steps.append(
            partial(sell_recharge, seller_id=seller.pk, phone_number=number("0000", shop), amount=None, product=PACKAGE)
        )
        steps.append(partial(adjust_balance, seller_id=seller.pk, amount=12_345, reason="goodwill", created_by=staff))
        steps.append(partial(adjust_balance, seller_id=seller.pk, amount=-2_222, reason="fee", created_by=staff))
        steps.append(partial(ask_and_reject, seller, staff))
        rng.shuffle(steps)
        for step in steps:
            step()
        # Staff decide two before the worker sees them: one each way.
        for successful in (True, False):
            recharge_id = sold_id(sell_recharge(seller_id=seller.pk, phone_number=number("5555", shop), amount=3_000))
            resolve_recharge(
                recharge_id=recharge_id, successful=successful, operator_reference="MCI-HAND-1", resolved_by=staff
            )
            kept["resolved"].append(recharge_id)

    gateway = sim.gateway(read_timeout=0.5)
    try:
        deadline = time.monotonic() + 60
        while Recharge.objects.filter(status="pending").exists():
            assert time.monotonic() < deadline, "recharges still pending"
            record_outcomes([call_operator(gateway, claim) for claim in claim_due(limit=100, lease_seconds=30)])
            time.sleep(0.2)
    finally:
        gateway.close()
    # One sale the worker never sees: pending on every surface.
    for shop, seller in enumerate(sellers):
        kept["pending"].append(
            sold_id(sell_recharge(seller_id=seller.pk, phone_number=number("0001", shop), amount=4_000))
        )
    return kept


def database_recharge(recharge: Recharge, commissions: dict[int, int]) -> dict:
    """The fields every surface must agree on, as the database holds them;
    the commission is the ledger's entry for the recharge, if any."""
    return {
        "id": recharge.pk,
        "status": recharge.status,
        "amount": recharge.amount,
        "operator_reference": recharge.operator_reference or None,
        "failure_code": recharge.failure_code,
        "completed": recharge.completed_at is not None,
        "product": recharge.product,
        "commission_rate": recharge.commission_rate,
        "commission": commissions.get(recharge.pk, 0),
    }


def api_recharge(body: dict) -> dict:
    return {
        "id": body["id"],
        "status": body["status"],
        "amount": body["amount"],
        "operator_reference": body["operator_reference"],
        "failure_code": body["failure"]["code"] if body["failure"] else None,
        "completed": body["completed_at"] is not None,
        "product": body["product"],
        "commission_rate": body["commission_rate"],
        "commission": body["commission"],
    }


def admin_readonly(page: str) -> dict[str, str]:
    """A read-only change page's values by label, as text."""
    found = re.findall(r'<label>([^<]+):</label>\s*<div class="readonly">(.*?)</div>', page, re.S)
    return {label: text_of(value) for label, value in found}


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).strip()


def cells(page: str, column: str) -> list[str]:
    """An admin list's column, as text, row by row."""
    return [text_of(cell) for cell in re.findall(rf'class="field-{column}[^"]*">(.*?)</td>', page, re.S)]


def rials_of(text: str) -> int:
    """ "1,250 IRR" -> 1250."""
    figure, unit = text.split()
    assert unit == "IRR", text
    return int(figure.replace(",", ""))


def percent(text: str) -> int:
    """A rate as the admin shows it, "2.75%", in basis points: 275."""
    return int(Decimal(text.removesuffix("%")) * 100)


def page_client(user) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def html_of(response) -> str:
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_every_surface_shows_what_the_database_holds(make_seller, sim, settings):
    # One word each, none inside another: the admin's search finds exactly one.
    sellers = [make_seller(name=name, balance=2_000_000) for name in ("Alborz", "Bushehr", "Caspian")]
    for seller in sellers[:2]:  # the third has no callback URL: it gets no events
        set_callback_url(seller_id=seller.pk, url=f"https://shop{seller.pk}.example/hooks")
    staff = get_user_model().objects.create_superuser(username="truth-staff", password="x")
    for seller, rate in zip(sellers, RATES, strict=True):
        if rate is not None:
            CommissionRate.objects.create(seller=seller, operator_id="mci", rate=rate)
    Product.objects.create(
        code=PACKAGE, operator_id="mci", name="1 GB", name_fa="۱ گیگ", amount=25_000, data_mb=1024, validity_days=30
    )
    settings.FOUR_EYES_PREPAYMENT_THRESHOLD = None
    record_prepayment(operator="mci", amount=PREPAID, bank_reference="TRUTH-1", created_by=staff)
    kept = make_history(sellers, staff, sim, settings)

    statuses = dict(Recharge.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    assert set(statuses) == {"pending", "successful", "failed"}  # the history reached every state
    assert reconcile() == []
    commissions = dict(LedgerEntry.objects.filter(kind="commission").values_list("recharge_id", "amount"))
    # Commissions were earned, at both rates; the shop without a rate earned none.
    assert {Recharge.objects.get(pk=rid).seller_id for rid in commissions} == {sellers[0].pk, sellers[1].pk}
    assert Recharge.objects.filter(product=PACKAGE, status="successful").count() == len(sellers)
    staff_api = client_for(staff)
    admin = page_client(staff)
    today = business_today()
    report_range = f"from={today - timedelta(days=1)}&to={today}"

    for seller in sellers:
        seller.refresh_from_db()
        recharges = {r.pk: database_recharge(r, commissions) for r in Recharge.objects.filter(seller=seller)}
        entries = list(LedgerEntry.objects.filter(seller=seller).order_by("sequence"))
        assert sum(entry.amount for entry in entries) == seller.balance == entries[-1].balance_after
        api = client_for(seller.user)

        # The API: /me/, each detail, the list, each batch.
        assert api.get(f"{API}/me/").json()["balance"] == seller.balance
        details = {}
        for recharge_id, expected in recharges.items():
            response = api.get(f"{API}/recharges/{recharge_id}/")
            assert response.status_code == 200
            details[recharge_id] = response.json()
            assert api_recharge(details[recharge_id]) == expected
        assert {body["id"]: body for body in all_rows(api, f"{API}/recharges/")} == details
        for batch_id in set(
            Recharge.objects.filter(seller=seller, batch__isnull=False).values_list("batch", flat=True)
        ):
            items = api.get(f"{API}/recharge-batches/{batch_id}/").json()["recharges"]
            assert {item["id"]: item for item in items} == {item["id"]: details[item["id"]] for item in items}

        # Callback events: one per final recharge for a seller with a URL, carrying GET's body.
        events = [json.loads(event.body) for event in CallbackEvent.objects.filter(seller=seller)]
        final = {rid: body for rid, body in details.items() if body["status"] != "pending"}
        if seller in sellers[:2]:
            assert sorted(event["data"]["id"] for event in events) == sorted(final)
            for event in events:
                body = final[event["data"]["id"]]
                assert event["data"] == body
                assert (
                    event["type"] == {"successful": "recharge.succeeded", "failed": "recharge.failed"}[body["status"]]
                )
        else:
            assert events == []

        # The ledger as the transactions list, its CSV export and the staff's export show it.
        expected_entries = [(e.sequence, e.kind, e.amount, e.balance_after) for e in entries]
        newest_first = all_rows(api, f"{API}/transactions/")
        assert [(t["kind"], t["amount"], t["balance_after"]) for t in reversed(newest_first)] == [
            entry[1:] for entry in expected_entries
        ]
        for client, path in (
            (api, f"{API}/transactions/export/"),
            (staff_api, f"{API}/sellers/{seller.pk}/transactions/export/"),
        ):
            response = client.get(path)
            rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
            assert [
                (int(r["sequence"]), r["kind"], int(r["amount"]), int(r["balance_after"])) for r in rows
            ] == expected_entries
        refunds = {e.recharge_id for e in entries if e.kind == "refund"}
        assert refunds == {rid for rid, body in details.items() if body["status"] == "failed"}
        # The CSV names each commission's recharge, and says what the API says it earned.
        paid = {
            int(r["reference_id"]): int(r["amount"])
            for r in csv.DictReader(
                io.StringIO(b"".join(api.get(f"{API}/transactions/export/").streaming_content).decode())
            )
            if r["kind"] == "commission" and r["reference_type"] == "recharge"
        }
        assert paid == {rid: body["commission"] for rid, body in details.items() if body["commission"]}

        # The daily report, the seller's and the staff's view of this seller.
        sums = {
            kind: LedgerEntry.objects.filter(seller=seller, kind=kind).aggregate(total=Sum("amount"))["total"] or 0
            for kind in ("recharge", "refund", "credit", "adjustment", "commission")
        }
        expected_report = {
            "recharges": len(recharges),
            "recharged_amount": -sums["recharge"],
            "refunded_amount": sums["refund"],
            "credited_amount": sums["credit"],
            "adjusted_amount": sums["adjustment"],
            "commission_amount": sums["commission"],
        }
        assert sums["commission"] == sum(body["commission"] for body in details.values())
        for client, path in (
            (api, f"{API}/reports/daily/?{report_range}"),
            (staff_api, f"{API}/reports/daily/?{report_range}&seller={seller.pk}"),
        ):
            rows = client.get(path).json()["results"]
            assert {key: sum(row[key] for row in rows) for key in expected_report} == expected_report
            assert rows[-1]["balance_end"] == seller.balance

        # The portal: the balance, the list, each detail, the statement and its CSV.
        portal = page_client(seller.user)
        dashboard = html_of(portal.get("/portal/"))
        assert re.search(r'id="balance">([^<]*)<', dashboard).group(1) == money(seller.balance)
        listing = html_of(portal.get("/portal/recharges/"))
        shown = dict(
            (int(rid), status)
            for rid, status in re.findall(r'/portal/recharges/(\d+)/">\d+</a>.*?class="status-(\w+)"', listing, re.S)
        )
        assert shown == {rid: body["status"] for rid, body in details.items()}
        for recharge_id, body in details.items():
            page = html_of(portal.get(f"/portal/recharges/{recharge_id}/"))
            assert re.search(r'class="status-(\w+)" id="status"', page).group(1) == body["status"]
            assert (body["operator_reference"] or "") in page
        statement = html_of(portal.get("/portal/statement/"))
        rows = re.findall(
            r'<tr><td class="num">(\d+)</td><td class="date">[^<]*</td><td>[^<]*</td>\s*'
            r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td>',
            statement,
        )
        assert sorted((int(seq), amount, after) for seq, amount, after in rows) == [
            (seq, money(amount), money(after)) for seq, _, amount, after in expected_entries
        ]
        download = portal.get("/portal/statement.csv")
        portal_csv = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
        assert [(int(r["sequence"]), int(r["amount"]), int(r["balance_after"])) for r in portal_csv] == [
            (seq, amount, after) for seq, _, amount, after in expected_entries
        ]

        # The admin: the seller's balance and each recharge's status in the lists.
        sellers_page = html_of(admin.get("/admin/sellers/seller/", {"q": seller.name}))
        (shown_balance,) = cells(sellers_page, "balance_display")
        assert shown_balance == f"{money(seller.balance)} IRR"
        recharges_page = html_of(admin.get("/admin/recharges/recharge/", {"q": seller.name}))
        ids = [int(rid) for rid in re.findall(r"/admin/recharges/recharge/(\d+)/change/[^>]*>\d+</a>", recharges_page)]
        columns = [cells(recharges_page, name) for name in ("product", "rate", "commission_display", "status_display")]
        assert {
            rid: (product, percent(rate), rials_of(commission), status.split()[0].lower())
            for rid, product, rate, commission, status in zip(ids, *columns, strict=True)
        } == {
            rid: (b["product"] or "-", b["commission_rate"], b["commission"], b["status"]) for rid, b in details.items()
        }
        # Each recharge's admin page: the reference sent to the operator, and the operator's; what it earned.
        for recharge in Recharge.objects.filter(seller=seller):
            page = html_of(admin.get(f"/admin/recharges/recharge/{recharge.pk}/change/"))
            assert str(recharge.topup_reference) in page
            assert (recharge.operator_reference or "") in page
            fields = admin_readonly(page)
            body = details[recharge.pk]
            assert (fields["Product"], int(fields["Commission rate"]), rials_of(fields["Commission"])) == (
                body["product"] or "-",
                body["commission_rate"],
                body["commission"],
            )

    # The staff's daily report over all sellers sums what the database holds.
    rows = staff_api.get(f"{API}/reports/daily/?{report_range}").json()["results"]
    assert sum(row["recharges"] for row in rows) == Recharge.objects.count()
    for figure, kind in (("refunded_amount", "refund"), ("commission_amount", "commission")):
        assert sum(row[figure] for row in rows) == LedgerEntry.objects.filter(kind=kind).aggregate(t=Sum("amount"))["t"]
    assert sum(Seller.objects.values_list("balance", flat=True)) == LedgerEntry.objects.aggregate(t=Sum("amount"))["t"]
    assert kept["resolved"] and kept["pending"]

    # The float at mci: prepaid less what was delivered, and what the pending sales reserve.
    mci = OperatorFloat.objects.get(pk="mci")
    delivered = Recharge.objects.filter(status="successful").aggregate(t=Sum("amount"))["t"]
    reserved = Recharge.objects.filter(status="pending").aggregate(t=Sum("amount"))["t"]
    assert (mci.balance, mci.pending) == (PREPAID - delivered, reserved)
    assert FloatEntry.objects.filter(operator="mci").aggregate(t=Sum("amount"))["t"] == mci.balance
    expected_float = (mci.balance, mci.pending, mci.balance - mci.pending)
    floats_page = html_of(admin.get("/admin/recharges/operatorfloat/"))
    columns = [cells(floats_page, name) for name in ("float_display", "pending_display", "available")]
    assert [tuple(rials_of(text) for text in row) for row in zip(*columns, strict=True)] == [expected_float]
    dashboard = html_of(admin.get("/admin/dashboard/"))
    table = re.search(r'<table id="floats">(.*?)</table>', dashboard, re.S).group(1)
    float_rows = [
        [text_of(cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    ]
    assert [tuple(rials_of(text) for text in row[1:4]) for row in float_rows] == [expected_float]
    metrics = Client().get("/metrics").content.decode()
    gauges = dict(re.findall(r'recharge_operator_float_(available|pending)_rials\{operator="mci"\} (\S+)', metrics))
    assert {name: int(float(value)) for name, value in gauges.items()} == {
        "available": mci.balance - mci.pending,
        "pending": mci.pending,
    }
