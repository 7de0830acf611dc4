"""Recharges around the Tehran midnight that starts 2026-12-07, Jalali
1405/09/16 (Tehran is UTC+03:30): the one at 00:30 in Tehran is still
2026-12-06 in UTC, so a page that counted UTC days would put it a day early."""

from tests.helpers.ledger_entries import entry_at, utc

DAY_BEFORE = utc(2026, 12, 6, 20, 29)  # 1405/09/15 23:59 in Tehran
HALF_PAST_MIDNIGHT = utc(2026, 12, 6, 21, 0)  # 1405/09/16 00:30 in Tehran
DAY_AFTER = utc(2026, 12, 7, 20, 30)  # 1405/09/17 00:00 in Tehran
AMOUNTS = {DAY_BEFORE: 1_000, HALF_PAST_MIDNIGHT: 2_000, DAY_AFTER: 3_000}


def recharges_around_midnight(seller) -> dict:
    """{moment: recharge id}, after a top-up that pays for them; every entry
    is older than the next (the portal's statement finds days by sequence)."""
    entry_at(seller.pk, "credit", 100_000, utc(2026, 12, 1))
    return {moment: entry_at(seller.pk, "recharge", -amount, moment).recharge_id for moment, amount in AMOUNTS.items()}
