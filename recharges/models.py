from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.functions import RandomUUID
from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import get_language, gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from config.constants import MAX_AMOUNT
from config.formats import rials
from recharges.phone_numbers import national_display

MAX_BATCH_ITEMS = 1000
MAX_RATE = 10_000
"""Commission rates are in basis points: 10,000 is the whole amount."""


def in_page_language(name: str, name_fa: str) -> str:
    """The Persian name on a Persian page when there is one, else the English one."""
    return name_fa if name_fa and get_language() == "fa" else name


class Operator(models.Model):
    """A mobile operator we deliver top-ups to; staff edit it in the admin."""

    code = models.SlugField(_("code"), max_length=16, primary_key=True)
    name = models.CharField(_("name"), max_length=64)
    name_fa = models.CharField(_("Persian name"), max_length=64, blank=True, default="", db_default="")
    enabled = models.BooleanField(_("enabled"), default=True)
    min_amount = models.BigIntegerField(_("min amount"), default=1)
    max_amount = models.BigIntegerField(_("max amount"), default=MAX_AMOUNT)
    denominations = ArrayField(
        models.BigIntegerField(),
        verbose_name=_("denominations"),
        null=True,
        blank=True,
        help_text=_("The only amounts sold as airtime, in rials, comma-separated; empty: any amount in the range."),
    )

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[a-z][a-z0-9_-]*$"), name="operator_code_lowercase"),
            models.CheckConstraint(
                condition=Q(min_amount__gte=1, max_amount__lte=MAX_AMOUNT, min_amount__lte=models.F("max_amount")),
                name="operator_amount_range_valid",
            ),
            models.CheckConstraint(
                condition=Q(denominations__isnull=True) | Q(denominations__len__gt=0),
                name="operator_denominations_listed",
            ),
        ]

    def __str__(self):
        return in_page_language(self.name, self.name_fa)

    def clean(self):
        outside = [d for d in self.denominations or [] if not self.min_amount <= d <= self.max_amount]
        if outside:
            allowed = {"min": f"{self.min_amount:,}", "max": f"{self.max_amount:,}"}
            listed = ", ".join(f"{amount:,}" for amount in outside)
            message = gettext("Outside %(min)s–%(max)s: %(amounts)s") % {**allowed, "amounts": listed}
            raise ValidationError({"denominations": message})
        if self.denominations:
            self.denominations = sorted(set(self.denominations))


class Product(models.Model):
    """A data package an operator sells for a fixed amount; staff edit them in the admin."""

    code = models.SlugField(_("code"), max_length=32, primary_key=True)
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="products", verbose_name=_("operator")
    )
    name = models.CharField(_("name"), max_length=100)
    name_fa = models.CharField(_("Persian name"), max_length=100)
    # Validators as the constraints below: a form shows a bad value as that field's error.
    amount = models.BigIntegerField(
        _("amount"), validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)], help_text=_("Rials.")
    )
    data_mb = models.IntegerField(_("data (MB)"), validators=[MinValueValidator(1)])
    validity_days = models.IntegerField(_("validity (days)"), validators=[MinValueValidator(1)])
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["operator", "amount", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[a-z0-9][a-z0-9_-]*$"), name="product_code_lowercase"),
            models.CheckConstraint(condition=Q(amount__gt=0, amount__lte=MAX_AMOUNT), name="product_amount_in_range"),
            models.CheckConstraint(condition=Q(data_mb__gt=0, validity_days__gt=0), name="product_size_positive"),
        ]

    def __str__(self):
        return f"{in_page_language(self.name, self.name_fa)} ({self.code})"


class CommissionRate(models.Model):
    """What a seller earns on a successful recharge of one operator, in basis
    points; an operator without a row earns nothing. The sale copies the rate
    onto the recharge, so a change applies to the next sale only."""

    seller = models.ForeignKey(
        "sellers.Seller", on_delete=models.CASCADE, related_name="commission_rates", verbose_name=_("seller")
    )
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("operator"))
    rate = models.IntegerField(
        _("rate"),
        validators=[MinValueValidator(0), MaxValueValidator(MAX_RATE)],
        help_text=_("Basis points: 250 is 2.5 %."),
    )

    class Meta:
        verbose_name = _("commission rate")
        verbose_name_plural = _("commission rates")
        constraints = [
            models.UniqueConstraint(fields=["seller", "operator"], name="commission_rate_one_per_operator"),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=MAX_RATE), name="commission_rate_in_range"),
        ]

    def __str__(self):
        # A row of the seller's page: the operator by name, the rate as a percentage.
        return f"{self.operator}: {Decimal(self.rate) / 100}%"


class PhoneNumber(models.Model):
    """One row per Iranian mobile number, in E.164 form (+989xxxxxxxxx)."""

    e164 = models.CharField(_("E.164 number"), max_length=16)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")
        # A constraint rather than unique=True, which would add a second
        # (pattern-matching) index that every new number pays for and no query uses.
        constraints = [
            models.UniqueConstraint(fields=["e164"], name="phone_number_e164_unique"),
            models.CheckConstraint(condition=Q(e164__regex=r"^\+989[0-9]{9}$"), name="phone_number_e164_ir_mobile"),
        ]

    def __str__(self):
        return national_display(self.e164)


class RechargeBatch(models.Model):
    """Recharges a seller bought in one all-or-nothing request."""

    seller = models.ForeignKey(
        "sellers.Seller", on_delete=models.PROTECT, related_name="recharge_batches", verbose_name=_("seller")
    )
    count = models.IntegerField(_("count"))
    total_amount = models.BigIntegerField(_("total amount"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("recharge batch")
        verbose_name_plural = _("recharge batches")
        constraints = [
            models.CheckConstraint(
                condition=Q(count__gte=1, count__lte=MAX_BATCH_ITEMS), name="recharge_batch_count_in_range"
            ),
            models.CheckConstraint(condition=Q(total_amount__gt=0), name="recharge_batch_total_positive"),
            # As for single recharges: a key outlives its purged idempotency record.
            models.UniqueConstraint(
                fields=["seller", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="recharge_batch_idempotency_key_unique_per_seller",
            ),
        ]

    def __str__(self):
        return gettext("Batch #%(id)s") % {"id": self.pk}


class Recharge(models.Model):
    """A mobile recharge sold by a seller; its debit is its ledger entry.

    Sold `pending` (debited), it is delivered to its operator by the worker
    (recharges.delivery) and ends exactly once `successful` or `failed`; a
    failed one is refunded by a `refund` ledger entry in the same transaction.
    The pending row is its own outbox: `next_attempt_at` is when the worker
    next calls the operator (NULL once final, or parked for staff past the
    horizon), `topup_requested_at` is set before the top-up is first sent, so
    a re-run asks for the status instead of sending it again.

    `topup_reference` is the reference the operator knows the top-up by: a
    UUID made when it is sold, because ids start again in another database
    (a restore, staging) that may talk to the same operator account.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCESSFUL = "successful", _("Successful")
        FAILED = "failed", _("Failed")

    class Failure(models.TextChoices):
        OPERATOR_DECLINED = "operator_declined", _("Operator declined")
        OPERATOR_REJECTED_NUMBER = "operator_rejected_number", _("Operator rejected the number")
        NOT_DELIVERED = "not_delivered", _("Not delivered")

    # Each failure as a sentence in the page's language (pages, not the API:
    # `failure_message` keeps the API's English).
    FAILURE_REASONS = {
        Failure.OPERATOR_DECLINED: _("The operator declined the top-up."),
        Failure.OPERATOR_REJECTED_NUMBER: _("The operator cannot top up this number."),
        Failure.NOT_DELIVERED: _("The top-up was not delivered."),
    }

    # Indexed by the composite index and constraints below, not column by column:
    # each index costs every sale. Phone numbers are never deleted, so the
    # foreign key to them needs no index.
    seller = models.ForeignKey(
        "sellers.Seller", on_delete=models.PROTECT, related_name="recharges", db_index=False, verbose_name=_("seller")
    )
    phone_number = models.ForeignKey(
        PhoneNumber, on_delete=models.PROTECT, related_name="recharges", db_index=False, verbose_name=_("phone number")
    )
    amount = models.BigIntegerField(_("amount"))
    batch = models.ForeignKey(
        RechargeBatch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="recharges",
        db_index=False,
        verbose_name=_("batch"),
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    # A code, not a foreign key: the key-share lock a foreign key check takes on
    # the operator's row would be taken by every sale, on a handful of rows.
    operator = models.CharField(_("operator"), max_length=16)
    # A code, for the same reason; null for airtime.
    product = models.CharField(_("product"), max_length=32, null=True, blank=True)
    commission_rate = models.IntegerField(
        _("commission rate"),
        db_default=0,
        help_text=_("Basis points, fixed at sale: earned as a commission entry once successful."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, db_default=Status.PENDING)
    topup_reference = models.UUIDField(
        _("top-up reference"),
        db_default=RandomUUID(),
        editable=False,
        help_text=_("What the operator knows the top-up by: sent with it and with every status query."),
    )
    operator_reference = models.CharField(_("operator reference"), max_length=128, null=True, blank=True)
    failure_code = models.CharField(_("failure"), max_length=32, choices=Failure.choices, null=True, blank=True)
    failure_message = models.CharField(_("failure message"), max_length=255, null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("resolved by"),
    )
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True, db_default=Now())
    topup_requested_at = models.DateTimeField(_("top-up requested at"), null=True, blank=True)
    attempts = models.IntegerField(_("attempts"), db_default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True, db_default="")
    float_reserved = models.BooleanField(
        _("float reserved"),
        db_default=False,
        editable=False,
        help_text=_("Sold while its operator's float was tracked: its amount is pending on that float until final."),
    )

    class Meta:
        verbose_name = _("recharge")
        # "recharges" alone is the portal's count ("12 recharges"), worded otherwise in Persian.
        verbose_name_plural = pgettext_lazy("model", "recharges")
        indexes = [
            models.Index(fields=["seller", "-id"], name="recharge_seller_newest"),
            models.Index(fields=["batch"], name="recharge_batch", condition=Q(batch__isnull=False)),
            # The delivery queue: only pending rows are in it.
            models.Index(fields=["next_attempt_at"], name="recharge_due", condition=Q(status="pending")),
            # number_hourly_count: a number's recent recharges.
            models.Index(fields=["phone_number", "created_at"], name="recharge_number_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "successful", "failed"]), name="recharge_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        status="pending",
                        completed_at__isnull=True,
                        operator_reference__isnull=True,
                        failure_code__isnull=True,
                    )
                    | Q(
                        status="successful",
                        completed_at__isnull=False,
                        operator_reference__isnull=False,
                        failure_code__isnull=True,
                    )
                    | Q(
                        status="failed",
                        completed_at__isnull=False,
                        operator_reference__isnull=True,
                        failure_code__isnull=False,
                        failure_code__in=["operator_declined", "operator_rejected_number", "not_delivered"],
                    )
                ),
                name="recharge_fields_match_status",
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(next_attempt_at__isnull=True), name="recharge_final_not_queued"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount__lte=MAX_AMOUNT), name="recharge_amount_in_range"
            ),
            models.UniqueConstraint(
                fields=["seller", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="recharge_idempotency_key_unique_per_seller",
            ),
            models.UniqueConstraint(fields=["topup_reference"], name="recharge_topup_reference_unique"),
            models.CheckConstraint(
                condition=Q(commission_rate__gte=0, commission_rate__lte=MAX_RATE),
                name="recharge_commission_rate_in_range",
            ),
        ]

    def __str__(self):
        return gettext("Recharge #%(id)s: %(amount)s") % {"id": self.pk, "amount": rials(self.amount)}


class OperatorFloat(models.Model):
    """The platform's prepaid account at one operator (its float). No row: the
    float is not tracked and sales to the operator are never refused for it.

    `balance` is what the operator still holds of our prepayments: it rises by
    prepayments and falls by each successful delivery (and by losses found at
    settlement); `pending` is what sales not yet final have reserved of it. A
    sale is refused (409 operator_unavailable) when `balance - pending` does
    not cover it. Every change of `balance` has its FloatEntry, as a seller's
    balance has its ledger entries; both stay non-negative (CHECK)."""

    operator = models.OneToOneField(
        Operator, on_delete=models.PROTECT, primary_key=True, related_name="float_account", verbose_name=_("operator")
    )
    balance = models.BigIntegerField(_("float"), default=0, help_text=_("Rials the operator holds of our prepayments."))
    pending = models.BigIntegerField(_("pending"), default=0, help_text=_("Rials reserved by sales not yet final."))
    sequence = models.BigIntegerField(_("entries"), default=0)
    alert_below_hours = models.IntegerField(
        _("alert below (hours)"),
        default=24,
        validators=[MinValueValidator(0)],
        help_text=_("The dashboard warns when the float will last fewer hours than this at the current burn rate."),
    )

    class Meta:
        verbose_name = _("operator float")
        verbose_name_plural = _("operator floats")
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="operator_float_balance_non_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="operator_float_pending_non_negative"),
            models.CheckConstraint(condition=Q(alert_below_hours__gte=0), name="operator_float_alert_non_negative"),
        ]

    def __str__(self):
        return gettext("Float at %(operator)s: %(balance)s") % {
            "operator": self.operator_id,
            "balance": rials(self.balance),
        }


class Prepayment(models.Model):
    """Money the platform paid an operator to top up its float, with the
    bank's reference. Above FOUR_EYES_PREPAYMENT_THRESHOLD it waits, adding
    nothing, until a second staff member approves it."""

    class Status(models.TextChoices):
        APPLIED = "applied", _("Applied")
        AWAITING_SECOND_APPROVAL = "awaiting_second_approval", _("Awaiting a second approval")

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="prepayments", verbose_name=_("operator")
    )
    amount = models.BigIntegerField(
        _("amount"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)],
        help_text=_("Rials paid to the operator."),
    )
    bank_reference = models.CharField(_("bank reference"), max_length=64)
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

    class Meta:
        verbose_name = _("prepayment")
        verbose_name_plural = _("prepayments")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0, amount__lte=MAX_AMOUNT), name="prepayment_amount_in_range"
            ),
            models.CheckConstraint(condition=~Q(bank_reference=""), name="prepayment_bank_reference_not_empty"),
            # One bank transfer tops up one float once.
            models.UniqueConstraint(fields=["operator", "bank_reference"], name="prepayment_bank_reference_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["applied", "awaiting_second_approval"]), name="prepayment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True, approved_at__isnull=True)
                | (
                    Q(status="applied", approved_by__isnull=False, approved_at__isnull=False)
                    & ~Q(approved_by=F("created_by"))
                ),
                name="prepayment_second_approver_differs",
            ),
        ]

    def __str__(self):
        return gettext("Prepayment #%(id)s to %(operator)s: %(amount)s") % {
            "id": self.pk,
            "operator": self.operator_id,
            "amount": rials(self.amount),
        }


class FloatEntry(models.Model):
    """One movement of an operator float; append-only (trigger), numbered
    1, 2, 3, ... per operator, each `balance_after` the previous one plus
    `amount`. A prepayment posts once, a recharge draws once (when it
    succeeds) and is written off as a loss at most once (a settlement found
    the operator charged a recharge we refunded)."""

    class Kind(models.TextChoices):
        PREPAYMENT = "prepayment", _("Prepayment")
        DRAW = "draw", _("Delivery")
        LOSS = "loss", _("Loss")

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("operator")
    )
    sequence = models.BigIntegerField(_("sequence"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(_("amount"))
    balance_after = models.BigIntegerField(_("balance after"))
    prepayment = models.ForeignKey(
        Prepayment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("prepayment"),
    )
    recharge = models.ForeignKey(
        "Recharge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("recharge"),
    )
    note = models.CharField(_("note"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("float entry")
        verbose_name_plural = _("float entries")
        # The burn rate reads the last hour's draws (operator_float_state.sql);
        # entries are appended in time order, so a BRIN index finds them for
        # almost nothing per delivery.
        indexes = [BrinIndex(fields=["created_at"], name="float_entry_created_at_brin")]
        constraints = [
            models.UniqueConstraint(fields=["operator", "sequence"], name="float_entry_sequence_unique"),
            models.UniqueConstraint(
                fields=["prepayment"], condition=Q(prepayment__isnull=False), name="float_entry_one_per_prepayment"
            ),
            models.UniqueConstraint(
                fields=["recharge", "kind"], condition=Q(recharge__isnull=False), name="float_entry_one_per_recharge"
            ),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="float_entry_balance_non_negative"),
            models.CheckConstraint(
                condition=Q(kind="prepayment", amount__gt=0, prepayment__isnull=False, recharge__isnull=True)
                | Q(kind__in=["draw", "loss"], amount__lt=0, prepayment__isnull=True, recharge__isnull=False),
                name="float_entry_exactly_one_source",
            ),
        ]

    def __str__(self):
        return gettext("Entry %(sequence)s of the float at %(operator)s: %(kind)s %(amount)s") % {
            "sequence": self.sequence,
            "operator": self.operator_id,
            "kind": self.get_kind_display(),
            "amount": rials(self.amount, signed=True),
        }
