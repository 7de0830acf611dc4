from datetime import date

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.dates import business_today
from config.errors import InvalidInput, violated_constraint
from credits.errors import AlreadyDecided, ReceiptAlreadyUsed
from credits.models import CreditRequest
from ledger import services as ledger
from ledger.errors import SecondApproverRequired

# Requests whose tracking number a new request may not reuse.
_HOLDING_RECEIPT = [
    CreditRequest.Status.PENDING,
    CreditRequest.Status.AWAITING_SECOND_APPROVAL,
    CreditRequest.Status.APPROVED,
]


def request_credit(
    *,
    seller_id: int,
    amount: int,
    bank: str = "",
    tracking_number: str = "",
    transferred_on: date | None = None,
    receipt: "File[bytes] | None" = None,
) -> CreditRequest:
    """Files a pending top-up request, with the transfer's evidence if given;
    no money moves until staff approve it.

    A tracking number already held by a pending or approved request of the
    same bank is refused here; two requests filed at once may both pass, and
    the database then lets only one of them be approved. A transfer dated
    after today (the business day) is refused: no bank has made it yet.
    """
    if transferred_on is not None and transferred_on > business_today():
        raise InvalidInput(details={"transferred_on": [_("The transfer date cannot be in the future.")]})
    if tracking_number and _receipt_held(bank=bank, tracking_number=tracking_number):
        raise ReceiptAlreadyUsed()
    return CreditRequest.objects.create(
        seller_id=seller_id,
        amount=amount,
        bank=bank,
        tracking_number=tracking_number,
        transferred_on=transferred_on,
        receipt=receipt or "",
    )


def _receipt_held(*, bank: str, tracking_number: str) -> bool:
    return CreditRequest.objects.filter(
        bank=bank, tracking_number=tracking_number, status__in=_HOLDING_RECEIPT
    ).exists()


def approve_credit_request(*, credit_request_id: int, decided_by: User) -> CreditRequest:
    """Approves and credits the request exactly once.

    Four eyes: above FOUR_EYES_CREDIT_THRESHOLD the first approval is only
    recorded (the request waits, nothing is credited), and a second, different
    staff member's approval credits it. A seller's own user never approves.
    Idempotent: approving an approved request returns it unchanged. Locks the
    request, then (in the ledger) the seller: the project's one lock order.
    """
    with transaction.atomic(durable=True):
        # of=("self",): the seller row is read, not locked here; the ledger locks it next.
        requests = CreditRequest.objects.select_for_update(of=("self",)).select_related("seller")
        credit_request = requests.get(pk=credit_request_id)
        if credit_request.status == CreditRequest.Status.APPROVED:
            return credit_request
        if credit_request.status == CreditRequest.Status.REJECTED:
            raise AlreadyDecided()
        if not may_approve(credit_request, decided_by):
            raise SecondApproverRequired()
        if first_of_two(credit_request):
            _approve_first(credit_request, decided_by)
            return credit_request
        try:
            with transaction.atomic():
                _decide(credit_request, CreditRequest.Status.APPROVED, decided_by)
        except IntegrityError as error:
            if violated_constraint(error) == "credit_request_receipt_approved_once":
                raise ReceiptAlreadyUsed() from error
            raise
        ledger.post_credit(credit_request=credit_request)
        return credit_request


def may_approve(credit_request: CreditRequest, user: User) -> bool:
    """Never the seller's own user, nor (four eyes) the request's first approver."""
    return user.pk not in (credit_request.seller.user_id, credit_request.first_approved_by_id)


def first_of_two(credit_request: CreditRequest) -> bool:
    """Whether approving this request now would be the first of two (four eyes)."""
    threshold = settings.FOUR_EYES_CREDIT_THRESHOLD
    pending = credit_request.status == CreditRequest.Status.PENDING
    return pending and threshold is not None and credit_request.amount > threshold


def _approve_first(credit_request: CreditRequest, approved_by: User) -> None:
    credit_request.status = CreditRequest.Status.AWAITING_SECOND_APPROVAL
    credit_request.first_approved_at = timezone.now()
    credit_request.first_approved_by = approved_by
    credit_request.save(update_fields=["status", "first_approved_at", "first_approved_by"])


def reject_credit_request(*, credit_request_id: int, decided_by: User) -> CreditRequest:
    """Rejects a pending request, or one waiting for its second approval (either
    approver may); rejecting a rejected one returns it unchanged."""
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
