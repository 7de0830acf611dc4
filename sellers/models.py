import ipaddress

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
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


def validate_network(value: str) -> None:
    """A network as PostgreSQL's cidr takes it: no host bits set (10.0.0.0/24, not 10.0.0.1/24)."""
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValidationError(
            _("%(value)s is not a network such as 203.0.113.0/24."), params={"value": value}
        ) from error


class CidrField(models.CharField):
    """PostgreSQL's cidr: the database refuses anything that is not a network.
    Read back as text (Django loads cidr as text)."""

    def db_type(self, connection):
        return "cidr"


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
    # Empty: the seller's API token works from anywhere (v1). Checked by
    # sellers.authentication; a seller with a list never takes the fast sale
    # path (recharges/sql/sell_recharge_by_token.sql), so one place refuses.
    allowed_networks = ArrayField(
        CidrField(max_length=43, validators=[validate_network]),
        verbose_name=_("allowed networks"),
        default=list,
        db_default=models.Value([], output_field=ArrayField(CidrField(max_length=43))),
        blank=True,
        help_text=_("Networks the API token may be used from, comma-separated (e.g. 203.0.113.0/24); empty: anywhere."),
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
