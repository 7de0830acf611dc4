from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from config.constants import MAX_AMOUNT

# Field validators matching seller_limits_positive: a form shows a bad limit as
# that field's error, where the constraint alone gives one for the whole form.
_MONEY_LIMIT = [MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)]

# Rotating or revoking a seller's API tokens (the admin's actions): a new key acts as the seller.
MANAGE_TOKENS = "sellers.manage_tokens_seller"


class Seller(models.Model):
    """A shop or reseller holding prepaid credit.

    `balance` and `ledger_sequence` are written only by `ledger.services`; a
    deferred trigger (ledger migration 0003_database_rules) checks at commit that they equal
    the seller's last ledger entry.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="seller", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=200)
    balance = models.BigIntegerField(_("balance"), default=0, db_default=0)
    ledger_sequence = models.BigIntegerField(
        _("ledger sequence"),
        default=0,
        db_default=0,
        help_text=_("Sequence number of the seller's last ledger entry."),
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    # Limits (null: none). The sale's statement checks them under the row lock
    # its debit takes (ledger/sql/ledger_post_debit.sql), so they hold exactly.
    max_recharge_amount = models.BigIntegerField(
        _("max recharge amount"),
        null=True,
        blank=True,
        validators=_MONEY_LIMIT,
        help_text=_("The largest single recharge, in rials."),
    )
    daily_amount = models.BigIntegerField(
        _("daily amount"),
        null=True,
        blank=True,
        validators=_MONEY_LIMIT,
        help_text=_("The most a business day's recharges that have not failed may total, in rials."),
    )
    number_hourly_count = models.IntegerField(
        _("number hourly count"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("The most recharges to one number in any 60 minutes (failed ones excepted)."),
    )
    # The business day's running total for daily_amount, kept on the row the
    # sale locks anyway: adding to it is exact, where summing the day's
    # recharges would need a snapshot taken after the lock.
    daily_amount_day = models.DateField(_("daily amount day"), null=True, blank=True, editable=False)
    daily_amount_used = models.BigIntegerField(_("daily amount used"), default=0, db_default=0, editable=False)
    low_balance_threshold = models.BigIntegerField(
        _("low balance threshold"),
        null=True,
        blank=True,
        validators=_MONEY_LIMIT,
        help_text=_("A debit taking the balance below it sends a balance.low event; in rials."),
    )

    class Meta:
        verbose_name = _("seller")
        verbose_name_plural = _("sellers")
        permissions = [("manage_tokens_seller", "Can rotate or revoke a seller's API tokens")]
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="seller_balance_non_negative"),
            models.CheckConstraint(
                condition=models.Q(ledger_sequence__gte=0), name="seller_ledger_sequence_non_negative"
            ),
            models.CheckConstraint(
                condition=(
                    (models.Q(max_recharge_amount__isnull=True) | models.Q(max_recharge_amount__gt=0))
                    & (models.Q(daily_amount__isnull=True) | models.Q(daily_amount__gt=0))
                    & (models.Q(number_hourly_count__isnull=True) | models.Q(number_hourly_count__gt=0))
                    & (models.Q(low_balance_threshold__isnull=True) | models.Q(low_balance_threshold__gt=0))
                ),
                name="seller_limits_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(daily_amount_used__gte=0), name="seller_daily_amount_used_non_negative"
            ),
        ]

    def __str__(self):
        return self.name
