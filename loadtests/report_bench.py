"""Issue 13's "Speed" figures for reports and exports, as ratios measured in
one run (absolute times on shared machines move from run to run):

    .venv/bin/python -m loadtests.report_bench [--big 1000000] [--small 1000] [--repeat 5] [--keep-db]

On a scratch database (created on the project's PostgreSQL server, migrated,
dropped at the end) it seeds one seller with --big ledger entries and another
with --small, both spread evenly over the last 366 days, through the ledger's
triggers (loadtests/ledger_seed.py), and sums the closed days as
`manage.py summarize_ledger_days` does (timed). Then, through Django's full request
stack in this process (server time, no network), the median of --repeat runs
after a warm-up:

  report       GET /api/v1/reports/daily/ as staff, all sellers, 366 days
               against 1 day (target: at most 3x); and for the big seller alone
  export       GET /api/v1/sellers/{big}/transactions/export/, rows/s, against
               rows/s of `COPY (SELECT <the same rows>) TO STDOUT` read by
               psycopg (target: at least 0.3x)
  list page    GET /api/v1/transactions/ (first page) of the big seller
               against the small one (target: at most 1.2x)
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta

from loadtests import harness
from loadtests.harness import log, render_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    with harness.scratch_database("reportbench", keep=args.keep_db) as url:
        env = harness.child_env(url)
        harness.manage(env, "migrate", "--noinput", quiet=True)
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        try:
            return run(args)
        finally:
            from django.db import connections

            connections.close_all()


def run(args) -> int:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.utils import timezone
    from rest_framework.test import APIClient

    from loadtests.ledger_seed import seed_ledger
    from reports.selectors import business_today
    from reports.services import summarize_days
    from sellers.services import create_seller, issue_api_token

    staff = get_user_model().objects.create_user(username="bench-staff", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    sellers = {}
    span = timedelta(days=366)
    for name, count in (("big", args.big), ("small", args.small)):
        seller, _ = create_seller(name=name, username=f"bench-{name}")
        started = time.monotonic()
        seed_ledger(seller_id=seller.pk, user_id=staff.pk, count=count, start=timezone.now() - span, step=span / count)
        log(f"seeded {count:,} entries for {name} in {time.monotonic() - started:.1f} s")
        sellers[name] = seller
    _analyze()
    # As `manage.py summarize_ledger_days` does hourly in production; its first run sums the whole history.
    started = time.monotonic()
    through = summarize_days()
    log(f"summed days through {through} in {time.monotonic() - started:.1f} s")

    staff_client = client(APIClient, issue_api_token(user=staff))
    big = sellers["big"]
    today = business_today()
    year = {"from": str(today - timedelta(365)), "to": str(today)}
    day = {"from": str(today), "to": str(today)}
    report = "/api/v1/reports/daily/"

    rows = []
    all_year = timed(args.repeat, lambda: staff_client.get(report, year))
    all_day = timed(args.repeat, lambda: staff_client.get(report, day))
    rows.append(["report, all sellers: 366 days / 1 day", ms(all_year), ms(all_day), all_year / all_day, "<= 3"])
    seller_year = timed(args.repeat, lambda: staff_client.get(report, {**year, "seller": big.pk}))
    seller_day = timed(args.repeat, lambda: staff_client.get(report, {**day, "seller": big.pk}))
    rows.append(["report, big seller: 366 days / 1 day", ms(seller_year), ms(seller_day), seller_year / seller_day, ""])

    export_url = f"/api/v1/sellers/{big.pk}/transactions/export/"
    exported = timed(args.repeat, lambda: consume(staff_client.get(export_url)))
    copied = timed(args.repeat, lambda: copy_rows(big.pk))
    rows.append(
        [
            "export rows/s / COPY rows/s",
            f"{args.big / exported:,.0f} rows/s",
            f"{args.big / copied:,.0f} rows/s",
            copied / exported,
            ">= 0.3",
        ]
    )

    big_client = client(APIClient, issue_api_token(user=big.user))
    small_client = client(APIClient, issue_api_token(user=sellers["small"].user))
    big_page = timed(args.repeat, lambda: big_client.get("/api/v1/transactions/"))
    small_page = timed(args.repeat, lambda: small_client.get("/api/v1/transactions/"))
    rows.append(
        ["transactions page: big / small seller", ms(big_page), ms(small_page), big_page / small_page, "<= 1.2"]
    )

    print(
        render_table(
            ["figure", "measured", "reference", "ratio", "target"], [[*r[:3], f"{r[3]:.2f}", *r[4:]] for r in rows]
        )
    )
    return 0


def client(client_class, key: str):
    api = client_class()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def timed(repeat: int, action) -> float:
    """Median seconds of `repeat` runs after one warm-up; every response must be 200."""
    durations = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        response = action()
        elapsed = time.perf_counter() - started
        if response is not None and getattr(response, "status_code", 200) != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.content[:300]!r}")
        if attempt:
            durations.append(elapsed)
    return statistics.median(durations)


def consume(response):
    for _ in response.streaming_content:
        pass
    return response


def copy_rows(seller_id: int) -> None:
    from django.db import connection

    sql = (
        "COPY (SELECT sequence, created_at, kind, amount, balance_after, credit_request_id, recharge_id, adjustment_id"
        f" FROM ledger_ledgerentry WHERE seller_id = {int(seller_id)} ORDER BY sequence) TO STDOUT WITH (FORMAT csv)"
    )
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        for _ in copy:
            pass


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


if __name__ == "__main__":
    sys.exit(main())
