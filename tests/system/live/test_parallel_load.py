"""Many terminals in many processes selling recharges through a real gunicorn
while staff top up and correct the same sellers: the books stay exact.

Run with -s to see how many requests were sent and how long they took.
"""

import random
from collections import Counter

import pytest
from django.db.models import Sum

from ledger.models import LedgerEntry
from ledger.selectors import reconcile
from recharges.models import Recharge
from sellers.models import Seller
from sellers.services import create_seller, issue_api_token
from tests.helpers.live_clients import run_processes
from tests.helpers.sellers import fund

pytestmark = pytest.mark.django_db(transaction=True)

PROCESSES = 8
THREADS = 4
SALES_PER_THREAD = 63  # 8 x 4 x 63 = 2,016 recharges
SELLERS = {"A": {"start": 1_500_000, "amount": 5_000}, "B": {"start": 1_200_000, "amount": 7_000}}
TOP_UPS = [100_000] * 8
ADJUSTMENTS = [20_000, -15_000, -50_000, 5_000, -30_000, 10_000]
PHONE_FORMATS = ["0912{:07d}", "+98912{:07d}", "98 912 {:07d}", "0912-{:07d}"]


def live_sellers(staff_user) -> dict[str, dict]:
    """Two sellers, funded through an approved credit request; their balance
    covers only part of what the terminals will try to sell."""
    sellers = {}
    for name, plan in SELLERS.items():
        seller, token = create_seller(name=f"Live {name}", username=f"live-{name.lower()}")
        fund(seller, plan["start"], staff_user)
        sellers[name] = {"name": name, "id": seller.pk, "token": token, **plan}
    # The most all negative adjustments can take still leaves the first sale covered.
    assert min(plan["start"] for plan in SELLERS.values()) > 2 * -sum(a for a in ADJUSTMENTS if a < 0) + 7_000
    return sellers


def plans(base_url: str, sellers: dict, staff_token: str, retries: bool) -> list[list[tuple[str, dict]]]:
    rng = random.Random(2024)
    names = sorted(sellers)
    plans = []
    for p in range(PROCESSES):
        jobs = []
        for t in range(THREADS):
            sales = []
            for i in range(SALES_PER_THREAD):
                seller = sellers[names[(p + t + i) % 2]]
                sale = {
                    "seller": seller["name"],
                    "token": seller["token"],
                    "amount": seller["amount"],
                    "phone": rng.choice(PHONE_FORMATS).format(rng.randrange(250)),
                }
                if retries:
                    sale["key"] = f"pos-{p}-{t}-{i}"
                sales.append(sale)
            jobs.append(("terminal", {"base_url": base_url, "sales": sales, "retries": retries, "seed": p * 100 + t}))
        plans.append(jobs)
    adjustments = [
        {"seller": s["name"], "seller_id": s["id"], "amount": a} for a in ADJUSTMENTS for s in sellers.values()
    ]
    plans.append(
        [
            ("top_ups", {"base_url": base_url, "staff_token": staff_token, "seller": s, "top_ups": TOP_UPS})
            for s in sellers.values()
        ]
        + [("adjustments", {"base_url": base_url, "staff_token": staff_token, "adjustments": adjustments})]
        + [("adjustments", {"base_url": base_url, "staff_token": staff_token, "adjustments": adjustments[::-1]})]
    )
    return plans


def run_and_check(api, staff_user, retries: bool) -> None:
    base_url = api.url
    sellers = live_sellers(staff_user)
    staff_token = issue_api_token(user=staff_user)

    results, elapsed = run_processes(plans(base_url, sellers, staff_token, retries))

    terminals = [r for r in results if "sold" in r]
    sold = [answer for r in terminals for answer in r["sold"]]
    refused = [answer for r in terminals for answer in r["refused"]]
    unexpected = [item for r in results for item in r["unexpected"]]
    statuses: Counter[int] = sum((r["statuses"] for r in terminals), Counter())
    sent = sum(r["sent"] for r in results)
    recharge_posts = sum(r["sent"] for r in terminals)
    print(
        f"\n[live{' with retries' if retries else ''}] {sent} HTTP requests ({recharge_posts} POST /recharges/,"
        f" {sent - recharge_posts} staff and top-up requests) from {len(plans(base_url, sellers, staff_token, retries))}"
        f" processes in {elapsed:.1f} s ({sent / elapsed:.0f}/s); recharge answers {dict(statuses)},"
        f" client timeouts {sum(r['timeouts'] for r in terminals)}, replays {sum(r['replayed'] for r in terminals)}"
    )
    assert not unexpected, f"{len(unexpected)} unexpected answers, e.g. {unexpected[:3]}\n{api.log_tail()}"
    assert not any(status >= 500 for status in statuses)
    assert len(sold) + len(refused) == PROCESSES * THREADS * SALES_PER_THREAD  # one final answer per sale
    if not retries:
        assert recharge_posts == len(sold) + len(refused) >= 2_000

    credited: Counter[str] = Counter()
    for item in (c for r in results for c in r.get("credited", [])):
        credited[item["seller"]] += item["amount"]
    adjusted: Counter[str] = Counter()
    for item in (a for r in results for a in r.get("adjusted", [])):
        adjusted[item["seller"]] += item["amount"]

    problems = reconcile()
    assert problems == [], problems
    for name, seller in sellers.items():
        mine = [answer for answer in sold if answer["seller"] == name]
        ids = [answer["id"] for answer in mine]
        entries = LedgerEntry.objects.filter(seller_id=seller["id"])
        spent = -entries.filter(kind="recharge").aggregate(total=Sum("amount"))["total"]
        balance = Seller.objects.get(pk=seller["id"]).balance
        assert mine and any(answer["seller"] == name for answer in refused)  # partly covered
        assert spent == len(mine) * seller["amount"]
        assert len(set(ids)) == len(ids) == Recharge.objects.filter(seller_id=seller["id"]).count()
        assert sorted(entries.filter(kind="recharge").values_list("recharge_id", flat=True)) == sorted(ids)
        assert credited[name] == len(TOP_UPS) * 100_000
        assert entries.filter(kind="credit").aggregate(total=Sum("amount"))["total"] == seller["start"] + credited[name]
        assert (entries.filter(kind="adjustment").aggregate(total=Sum("amount"))["total"] or 0) == adjusted[name]
        assert balance == seller["start"] + credited[name] + adjusted[name] - spent
        assert balance == entries.aggregate(total=Sum("amount"))["total"] >= 0
        assert entries.filter(balance_after__lt=0).count() == 0
        print(
            f"  seller {name}: {len(mine)} sold, balance {balance}, top-ups landed after sales {_sales_before_top_ups(entries)}"
        )
        if retries:
            keys = [answer["key"] for answer in mine]
            refused_keys = [answer["key"] for answer in refused if answer["seller"] == name]
            assert sorted(
                key or ""
                for key in Recharge.objects.filter(seller_id=seller["id"]).values_list("idempotency_key", flat=True)
            ) == sorted(keys)
            assert not Recharge.objects.filter(seller_id=seller["id"], idempotency_key__in=refused_keys).exists()


def _sales_before_top_ups(entries) -> list[int]:
    """For each top-up credited during the run, how many sales preceded it in
    the seller's ledger: evidence that staff worked while terminals sold."""
    kinds = list(entries.order_by("sequence").values_list("kind", flat=True))[1:]  # after the initial funding
    return [kinds[:index].count("recharge") for index, kind in enumerate(kinds) if kind == "credit"]


def test_2000_parallel_recharges_through_gunicorn_keep_the_books(gunicorn, staff_user):
    run_and_check(gunicorn, staff_user, retries=False)


def test_timed_out_recharges_retried_with_their_key_debit_once(gunicorn, staff_user):
    run_and_check(gunicorn, staff_user, retries=True)
