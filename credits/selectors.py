from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from credits.models import CreditRequest


def credit_request_list(*, seller_id: int | None, status: str | None = None) -> QuerySet[CreditRequest]:
    """A seller's requests, or everyone's when `seller_id` is None (staff)."""
    requests = CreditRequest.objects.all()
    if seller_id is not None:
        requests = requests.filter(seller_id=seller_id)
    if status:
        requests = requests.filter(status=status)
    return requests


def get_credit_request(*, credit_request_id: int, seller_id: int | None) -> CreditRequest:
    credit_request: CreditRequest = get_object_or_404(credit_request_list(seller_id=seller_id), pk=credit_request_id)
    return credit_request
