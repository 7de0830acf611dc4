from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.constants import MAX_AMOUNT
from config.formats import rials


def not_zero(amount: int) -> None:
    if amount == 0:
        raise ValidationError(_("An adjustment may not be 0."), code="zero")


class BalanceAdjustment(models.Model):
    """A signed correction of a seller's balance made by staff, with a reason.

    Above FOUR_EYES_ADJUSTMENT_THRESHOLD it waits, posting nothing, until a
    second staff member approves it (`approved_by`) or a staff member rejects
    it (`rejected_by`); it posts at most once (the ledger's one entry per
    adjustment)."""

    class Status(models.TextChoices):
        APPLIED = "applied", _("Applied")
        AWAITING_SECOND_APPROVAL = "awaiting_second_approval", _("Awaiting a second approval")
        # Four eyes: refused while it waited; it never posts.
        REJECTED = "rejected", _("Rejected")

    seller = models.ForeignKey(
        "sellers.Seller", on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("seller")
    )
    amount = models.BigIntegerField(
        _("amount"),
        help_text=_("Rials: positive credits the seller, negative debits."),
        # The CHECK's rule as form errors (the admin), before the database would refuse it.
        validators=[MinValueValidator(-MAX_AMOUNT), MaxValueValidator(MAX_AMOUNT), not_zero],
    )
    reason = models.CharField(_("reason"), max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    status = models.CharField(
        _("status"), max_length=24, choices=Status.choices, default=Status.APPLIED, db_default=Status.APPLIED
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("second approver"),
    )
    approved_at = models.DateTimeField(_("second approved at"), null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rejected by"),
    )
    rejected_at = models.DateTimeField(_("rejected at"), null=True, blank=True)

    class Meta:
        verbose_name = _("balance adjustment")
        verbose_name_plural = _("balance adjustments")
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0) & Q(amount__gte=-MAX_AMOUNT, amount__lte=MAX_AMOUNT),
                name="adjustment_amount_non_zero_in_range",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="adjustment_reason_not_empty"),
            models.CheckConstraint(
                condition=Q(status__in=["applied", "awaiting_second_approval", "rejected"]),
                name="adjustment_status_valid",
            ),
            # A rejection is recorded whole, on a rejected adjustment only.
            models.CheckConstraint(
                condition=Q(status="rejected", rejected_by__isnull=False, rejected_at__isnull=False)
                | (~Q(status="rejected") & Q(rejected_by__isnull=True, rejected_at__isnull=True)),
                name="adjustment_rejection_whole",
            ),
            # A second approval is recorded whole, only on an applied adjustment, by somebody else.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True, approved_at__isnull=True)
                | (
                    Q(status="applied", approved_by__isnull=False, approved_at__isnull=False)
                    & ~Q(approved_by=F("created_by"))
                ),
                name="adjustment_second_approver_differs",
            ),
        ]

    def __str__(self):
        return gettext("Adjustment #%(id)s: %(amount)s (%(reason)s)") % {
            "id": self.pk,
            "amount": rials(self.amount, signed=True),
            "reason": self.reason,
        }


class LedgerEntry(models.Model):
    """One movement of a seller's money; the ledger is append-only.

    `sequence` numbers a seller's entries 1, 2, 3, ... (assigned under the
    seller row lock); `balance_after` chains them. Each entry points to exactly
    one source, and each source can post at most once.
    """

    class Kind(models.TextChoices):
        CREDIT = "credit", _("Credit")
        RECHARGE = "recharge", _("Recharge")
        ADJUSTMENT = "adjustment", _("Adjustment")
        REFUND = "refund", _("Refund")
        COMMISSION = "commission", _("Commission")

    # No single-column indexes: UNIQUE (seller, sequence) and the one-per-source
    # UNIQUE constraints index these columns already, and every index costs each insert.
    seller = models.ForeignKey(
        "sellers.Seller",
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        db_index=False,
        verbose_name=_("seller"),
    )
    sequence = models.BigIntegerField(_("sequence"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(_("amount"))
    balance_after = models.BigIntegerField(_("balance after"))
    credit_request = models.ForeignKey(
        "credits.CreditRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        db_index=False,
        verbose_name=_("credit request"),
    )
    recharge = models.ForeignKey(
        "recharges.Recharge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        db_index=False,
        verbose_name=_("recharge"),
    )
    adjustment = models.ForeignKey(
        BalanceAdjustment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        db_index=False,
        verbose_name=_("balance adjustment"),
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["seller", "sequence"], name="ledger_entry_sequence_unique_per_seller"),
            # Partial: an entry has one source, so the other two indexes skip it.
            models.UniqueConstraint(
                fields=["credit_request"],
                condition=Q(credit_request__isnull=False),
                name="ledger_entry_one_per_credit_request",
            ),
            # A recharge posts its debit once and then, if it failed, its refund once,
            # or, if it succeeded, its commission once.
            models.UniqueConstraint(
                fields=["recharge", "kind"], condition=Q(recharge__isnull=False), name="ledger_entry_one_per_recharge"
            ),
            models.UniqueConstraint(
                fields=["adjustment"], condition=Q(adjustment__isnull=False), name="ledger_entry_one_per_adjustment"
            ),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="ledger_entry_sequence_positive"),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_non_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_entry_balance_after_non_negative"),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind="credit",
                        amount__gt=0,
                        credit_request__isnull=False,
                        recharge__isnull=True,
                        adjustment__isnull=True,
                    )
                    | Q(
                        kind="recharge",
                        amount__lt=0,
                        credit_request__isnull=True,
                        recharge__isnull=False,
                        adjustment__isnull=True,
                    )
                    | Q(kind="adjustment", credit_request__isnull=True, recharge__isnull=True, adjustment__isnull=False)
                    | Q(
                        kind__in=["refund", "commission"],
                        amount__gt=0,
                        credit_request__isnull=True,
                        recharge__isnull=False,
                        adjustment__isnull=True,
                    )
                ),
                name="ledger_entry_exactly_one_source",
            ),
        ]

    def __str__(self):
        return gettext("Entry %(sequence)s of seller #%(seller)s: %(kind)s %(amount)s") % {
            "sequence": self.sequence,
            "seller": self.seller_id,
            "kind": self.get_kind_display(),
            "amount": rials(self.amount, signed=True),
        }

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only; an existing entry cannot be saved.")
        super().save(*args, **kwargs)
