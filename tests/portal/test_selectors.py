"""Date ranges on the ledger are read through sequence bounds found by
bisection; they must select exactly what a plain created_at filter selects.
Transactional: each sale commits on its own, with its own timestamp, as in
production (inside one test transaction they would all share one)."""

from datetime import timedelta

import pytest

from ledger.models import LedgerEntry
from portal import selectors
from recharges.services import sell_recharge


@pytest.fixture
def history(seller_a):
    for amount in range(1, 10):
        assert (
            sell_recharge(seller_id=seller_a.pk, phone_number="+989121234567", amount=amount * 100).status_code == 201
        )
    return list(LedgerEntry.objects.filter(seller=seller_a).order_by("sequence").values_list("created_at", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slack", [timedelta(0), timedelta(microseconds=1), selectors.CLOCK_SLACK])
def test_ranges_select_what_created_at_selects(slack, seller_a, history, monkeypatch):
    monkeypatch.setattr(selectors, "CLOCK_SLACK", slack)
    moments = [history[0] - timedelta(days=1), *history, history[-1] + timedelta(microseconds=1)]
    everything = LedgerEntry.objects.filter(seller=seller_a)
    for after in [None, *moments]:
        for before in [None, *moments]:
            got = selectors.entries_between(everything, seller_id=seller_a.pk, after=after, before=before)
            expected = everything
            if after is not None:
                expected = expected.filter(created_at__gte=after)
            if before is not None:
                expected = expected.filter(created_at__lt=before)
            assert sorted(got.values_list("sequence", flat=True)) == sorted(expected.values_list("sequence", flat=True))


@pytest.mark.django_db(transaction=True)
def test_bisection_reads_few_rows(seller_a, history, django_assert_max_num_queries):
    # 10 entries: the last sequence, then at most ceil(log2(11)) = 4 probes per bound.
    with django_assert_max_num_queries(2 * (1 + 4) + 1):
        list(
            selectors.entries_between(
                LedgerEntry.objects.filter(seller=seller_a), seller_id=seller_a.pk, after=history[3], before=history[7]
            )
        )


@pytest.mark.django_db(transaction=True)
def test_daily_sales_counts_todays_recharges(seller_a, history):
    today = selectors.business_today()
    days = selectors.daily_sales(seller_id=seller_a.pk, today=today)
    assert len(days) == 30 and days[-1] == (today, 9, sum(range(1, 10)) * 100)
    assert all((count, amount) == (0, 0) for _, count, amount in days[:-1])
    assert selectors.sales_since(seller_id=seller_a.pk, since=selectors.day_start(today)) == {
        "count": 9,
        "amount": 4500,
    }
