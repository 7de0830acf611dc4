import filetype
from django.db.models import QuerySet
from django.http import FileResponse
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


def receipt_response(credit_request: CreditRequest) -> FileResponse:
    """The request's receipt file, with the type its name records (given by
    its content when it was stored); the caller has checked who may see it."""
    extension = str(credit_request.receipt.name).rsplit(".", 1)[-1]
    kind = filetype.get_type(ext=extension)
    response = FileResponse(credit_request.receipt.open("rb"), content_type=kind.mime if kind else None)
    response["Content-Disposition"] = f'inline; filename="receipt-{credit_request.pk}.{extension}"'
    return response
