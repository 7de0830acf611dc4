from django.conf import settings
from django.db import models
from django.db.models.functions import Now

# Rotating or revoking a seller's API tokens (the admin's actions): a new key acts as the seller.
MANAGE_TOKENS = "sellers.manage_tokens_seller"


class Seller(models.Model):
    """A shop or reseller holding prepaid credit.

    `balance` and `ledger_sequence` are written only by `ledger.services`; a
    deferred trigger (ledger migration 0003_database_rules) checks at commit that they equal
    the seller's last ledger entry.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="seller")
    name = models.CharField(max_length=200)
    balance = models.BigIntegerField(default=0, db_default=0)
    ledger_sequence = models.BigIntegerField(
        default=0, db_default=0, help_text="Sequence number of the seller's last ledger entry."
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        permissions = [("manage_tokens_seller", "Can rotate or revoke a seller's API tokens")]
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="seller_balance_non_negative"),
            models.CheckConstraint(
                condition=models.Q(ledger_sequence__gte=0), name="seller_ledger_sequence_non_negative"
            ),
        ]

    def __str__(self):
        return self.name
