from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.constants import MAX_AMOUNT
from config.formats import rials
from credits.banks import BANK_CHOICES

# Approving or rejecting a credit request, in the API and the admin alike.
DECIDE_CREDIT_REQUESTS = "credits.decide_creditrequest"
# Seeing every seller's requests and their receipts, in the API and the admin alike.
VIEW_CREDIT_REQUESTS = "credits.view_creditrequest"

# Receipts live under MEDIA_ROOT, which nothing serves statically: only the
# receipt view hands one out, to staff who may see it and to its own seller.
# No location given, so the storage follows MEDIA_ROOT (tests move it).
receipts = FileSystemStorage()


class CreditRequest(models.Model):
    """A seller's request for a credit top-up; an admin approves or rejects it.

    Once decided, its status, amount and seller are frozen by a trigger
    (migration 0002); the ledger's one-entry-per-request constraint makes sure
    it credits at most once whatever happens to this row.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        # Four eyes: approved once, waiting for a second, different staff member.
        AWAITING_SECOND_APPROVAL = "awaiting_second_approval", _("Awaiting a second approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    seller = models.ForeignKey(
        "sellers.Seller",
        on_delete=models.PROTECT,
        related_name="credit_requests",
        db_index=False,
        verbose_name=_("seller"),
    )  # indexed by credit_request_seller_newest
    # The CHECK's range as form errors (the admin), before the database would refuse it.
    amount = models.BigIntegerField(_("amount"), validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)])
    status = models.CharField(
        _("status"), max_length=24, choices=Status.choices, default=Status.PENDING, db_default=Status.PENDING
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    first_approved_at = models.DateTimeField(_("first approved at"), null=True, blank=True)
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("first approved by"),
    )
    # The transfer's evidence, all optional (v1 clients send none); "" is none.
    bank = models.CharField(_("bank"), max_length=32, choices=BANK_CHOICES, blank=True, default="", db_default="")
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True, default="", db_default="")
    transferred_on = models.DateField(_("transferred on"), null=True, blank=True)
    receipt = models.FileField(_("receipt"), storage=receipts, upload_to="receipts/%Y/%m/", blank=True, default="")

    class Meta:
        verbose_name = _("credit request")
        verbose_name_plural = _("credit requests")
        # Deciding is its own right: the admin's change form edits nothing (docs/permissions.md).
        permissions = [("decide_creditrequest", "Can approve or reject credit requests")]
        indexes = [models.Index(fields=["seller", "-id"], name="credit_request_seller_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount__lte=MAX_AMOUNT), name="credit_request_amount_in_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "awaiting_second_approval", "approved", "rejected"]),
                name="credit_request_status_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        status__in=["pending", "awaiting_second_approval"],
                        decided_at__isnull=True,
                        decided_by__isnull=True,
                    )
                    | Q(status__in=["approved", "rejected"], decided_at__isnull=False, decided_by__isnull=False)
                ),
                name="credit_request_decision_recorded",
            ),
            # Waiting means one approval recorded; pending means none yet.
            models.CheckConstraint(
                condition=(
                    Q(status="pending", first_approved_at__isnull=True, first_approved_by__isnull=True)
                    | Q(
                        status="awaiting_second_approval",
                        first_approved_at__isnull=False,
                        first_approved_by__isnull=False,
                    )
                    | Q(status__in=["approved", "rejected"])
                ),
                name="credit_request_first_approval_recorded",
            ),
            # Four eyes: the second approver is not the first.
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(first_approved_by__isnull=True)
                | ~Q(decided_by=F("first_approved_by")),
                name="credit_request_two_different_approvers",
            ),
            # One bank transfer funds one approved request, whoever sends its receipt.
            models.UniqueConstraint(
                fields=["bank", "tracking_number"],
                condition=Q(status="approved") & ~Q(tracking_number=""),
                name="credit_request_receipt_approved_once",
            ),
        ]

    def __str__(self):
        # The admin's title for the request (and its name in the ledger entry it posted).
        return gettext("Top-up request #%(id)s: %(amount)s for %(seller)s") % {
            "id": self.pk,
            "amount": rials(self.amount),
            "seller": self.seller.name,
        }
