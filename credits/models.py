from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from config.constants import MAX_AMOUNT

# Approving or rejecting a credit request, in the API and the admin alike.
DECIDE_CREDIT_REQUESTS = "credits.decide_creditrequest"


class CreditRequest(models.Model):
    """A seller's request for a credit top-up; an admin approves or rejects it.

    Once decided, its status, amount and seller are frozen by a trigger
    (migration 0002); the ledger's one-entry-per-request constraint makes sure
    it credits at most once whatever happens to this row.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    seller = models.ForeignKey(
        "sellers.Seller", on_delete=models.PROTECT, related_name="credit_requests", db_index=False
    )  # indexed by credit_request_seller_newest
    amount = models.BigIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_default=Status.PENDING)
    created_at = models.DateTimeField(db_default=Now())
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        # Deciding is its own right: the admin's change form edits nothing (docs/permissions.md).
        permissions = [("decide_creditrequest", "Can approve or reject credit requests")]
        indexes = [models.Index(fields=["seller", "-id"], name="credit_request_seller_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount__lte=MAX_AMOUNT), name="credit_request_amount_in_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected"]), name="credit_request_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="pending", decided_at__isnull=True, decided_by__isnull=True)
                    | (~Q(status="pending") & Q(decided_at__isnull=False, decided_by__isnull=False))
                ),
                name="credit_request_decision_recorded",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.amount} IRR for {self.seller_id} ({self.status})"
