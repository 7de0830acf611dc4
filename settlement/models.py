from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Settlement(models.Model):
    """One comparison of an operator's statement of a business day with our
    recharges of that day (settlement.services.settle). A day may be settled
    again: each run is kept, and a difference becomes a case only once."""

    operator = models.ForeignKey(
        "recharges.Operator", on_delete=models.PROTECT, related_name="+", verbose_name=_("operator")
    )
    day = models.DateField(_("day"))
    settled_at = models.DateTimeField(_("settled at"), db_default=Now())
    statement_lines = models.IntegerField(_("statement lines"))
    recharges = models.IntegerField(_("our recharges"))
    matched = models.IntegerField(_("matched"))
    differences = models.IntegerField(_("differences"))
    # Recharges of the day still pending, not judged yet: the job settles the day again once they are final.
    pending = models.IntegerField(_("still pending"), default=0)
    seconds = models.FloatField(_("seconds"))

    class Meta:
        verbose_name = _("settlement")
        verbose_name_plural = _("settlements")
        ordering = ["-settled_at"]
        indexes = [models.Index(fields=["operator", "-settled_at"], name="settlement_latest")]

    def __str__(self):
        return gettext("Settlement of %(operator)s for %(day)s") % {"operator": self.operator_id, "day": self.day}


class SettlementCase(models.Model):
    """A difference between the operator's statement and our books, for staff
    to look into and resolve with a note."""

    class Kind(models.TextChoices):
        OURS_ONLY = "ours_only", _("Ours only: successful here, not in the statement")
        THEIRS_ONLY = "theirs_only", _("Theirs only: in the statement, no recharge here")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch")
        STATUS_MISMATCH = "status_mismatch", _("Status mismatch")
        DUPLICATE = "duplicate", _("Charged more than once in the statement")

    settlement = models.ForeignKey(
        Settlement, on_delete=models.PROTECT, related_name="cases", verbose_name=_("settlement")
    )
    operator = models.ForeignKey(
        "recharges.Operator", on_delete=models.PROTECT, related_name="+", verbose_name=_("operator")
    )
    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    reference = models.CharField(_("reference"), max_length=64)
    recharge = models.ForeignKey(
        "recharges.Recharge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("recharge"),
    )
    our_amount = models.BigIntegerField(_("our amount"), null=True, blank=True)
    our_status = models.CharField(_("our status"), max_length=16, blank=True, default="")
    their_amount = models.BigIntegerField(_("their amount"), null=True, blank=True)
    their_status = models.CharField(_("their status"), max_length=16, blank=True, default="")
    their_reference = models.CharField(_("their reference"), max_length=128, blank=True, default="")
    msisdn = models.CharField(_("number"), max_length=16, blank=True, default="")
    created_at = models.DateTimeField(_("found at"), db_default=Now())
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    note = models.TextField(_("note"), blank=True, default="")
    loss = models.BigIntegerField(
        _("loss"),
        default=0,
        help_text=_(
            "Rials the platform lost (the operator charged a top-up we refunded, or charged one more than once), "
            "written off its float."
        ),
    )

    class Meta:
        verbose_name = _("settlement case")
        verbose_name_plural = _("settlement cases")
        ordering = ["-day", "id"]
        constraints = [
            # A difference is found once, however often its day is settled.
            models.UniqueConstraint(fields=["operator", "reference", "kind"], name="settlement_case_found_once"),
            models.CheckConstraint(
                condition=Q(kind__in=["ours_only", "theirs_only", "amount_mismatch", "status_mismatch", "duplicate"]),
                name="settlement_case_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, resolved_by__isnull=True, note="", loss=0)
                | Q(resolved_at__isnull=False, resolved_by__isnull=False, loss__gte=0) & ~Q(note=""),
                name="settlement_case_resolved_with_a_note",
            ),
        ]
        indexes = [models.Index(fields=["day"], condition=Q(resolved_at__isnull=True), name="settlement_case_open")]

    def __str__(self):
        return gettext("%(kind)s: %(reference)s") % {"kind": self.get_kind_display(), "reference": self.reference}

    @property
    def platform_loss(self) -> int:
        """Rials the operator charged beyond what our books drew from its
        float for this top-up: all of it for one we refunded, the extra
        charges for one it charged more than once. The platform paid them."""
        if self.their_status != "successful" or not self.their_amount or self.recharge_id is None:
            return 0
        drawn = self.our_amount if self.our_status == "successful" and self.our_amount else 0
        if self.kind == self.Kind.STATUS_MISMATCH and self.our_status == "failed":
            return self.their_amount
        if self.kind == self.Kind.DUPLICATE:
            return max(self.their_amount - drawn, 0)
        return 0
