"""Checks of the books after concurrent work: exact, never approximate."""

from django.db.models import Count, Min, Sum

from ledger.models import LedgerEntry
from ledger.selectors import reconcile
from sellers.models import Seller


def assert_books_balance(*seller_ids: int) -> None:
    """reconcile() is clean and, per seller: the balance is the sum of the
    ledger, the entries are numbered 1..n without a gap, and no entry's
    balance_after (the balance at each committed moment) is negative."""
    assert reconcile() == []
    for seller in Seller.objects.filter(pk__in=seller_ids):
        totals = LedgerEntry.objects.filter(seller=seller).aggregate(
            total=Sum("amount"), count=Count("id"), lowest=Min("balance_after")
        )
        sequences = list(
            LedgerEntry.objects.filter(seller=seller).order_by("sequence").values_list("sequence", flat=True)
        )
        assert seller.balance == (totals["total"] or 0)
        assert seller.balance >= 0
        assert (totals["lowest"] or 0) >= 0
        assert sequences == list(range(1, totals["count"] + 1))
        assert seller.ledger_sequence == totals["count"]


def balance_of(seller_id: int) -> int:
    return Seller.objects.get(pk=seller_id).balance
