from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from credits.errors import AlreadyDecided
from credits.models import CreditRequest
from ledger import services as ledger


def request_credit(*, seller_id: int, amount: int) -> CreditRequest:
    """Files a pending top-up request; no money moves until staff approve it."""
    return CreditRequest.objects.create(seller_id=seller_id, amount=amount)


def approve_credit_request(*, credit_request_id: int, decided_by: User) -> CreditRequest:
    """Approves and credits the request exactly once.

    Idempotent: approving an approved request returns it unchanged. Locks the
    request, then (in the ledger) the seller: the project's one lock order.
    """
    with transaction.atomic(durable=True):
        credit_request = CreditRequest.objects.select_for_update().get(pk=credit_request_id)
        if credit_request.status == CreditRequest.Status.APPROVED:
            return credit_request
        if credit_request.status == CreditRequest.Status.REJECTED:
            raise AlreadyDecided()
        _decide(credit_request, CreditRequest.Status.APPROVED, decided_by)
        ledger.post_credit(credit_request=credit_request)
        return credit_request


def reject_credit_request(*, credit_request_id: int, decided_by: User) -> CreditRequest:
    """Rejects a pending request; rejecting a rejected one returns it unchanged."""
    with transaction.atomic(durable=True):
        credit_request = CreditRequest.objects.select_for_update().get(pk=credit_request_id)
        if credit_request.status == CreditRequest.Status.REJECTED:
            return credit_request
        if credit_request.status == CreditRequest.Status.APPROVED:
            raise AlreadyDecided()
        _decide(credit_request, CreditRequest.Status.REJECTED, decided_by)
        return credit_request


def _decide(credit_request: CreditRequest, status: str, decided_by: User) -> None:
    credit_request.status = status
    credit_request.decided_at = timezone.now()
    credit_request.decided_by = decided_by
    credit_request.save(update_fields=["status", "decided_at", "decided_by"])
