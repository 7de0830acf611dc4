from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

MAX_AMOUNT = 10**15
MAX_BATCH_ITEMS = 1000


class PhoneNumber(models.Model):
    """One row per Iranian mobile number, in E.164 form (+989xxxxxxxxx)."""

    e164 = models.CharField(max_length=16)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        # A constraint rather than unique=True, which would add a second
        # (pattern-matching) index that every new number pays for and no query uses.
        constraints = [
            models.UniqueConstraint(fields=["e164"], name="phone_number_e164_unique"),
            models.CheckConstraint(condition=Q(e164__regex=r"^\+989[0-9]{9}$"), name="phone_number_e164_ir_mobile"),
        ]

    def __str__(self):
        return self.e164


class RechargeBatch(models.Model):
    """Recharges a seller bought in one all-or-nothing request."""

    seller = models.ForeignKey("sellers.Seller", on_delete=models.PROTECT, related_name="recharge_batches")
    count = models.IntegerField()
    total_amount = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(count__gte=1, count__lte=MAX_BATCH_ITEMS), name="recharge_batch_count_in_range"
            ),
            models.CheckConstraint(condition=Q(total_amount__gt=0), name="recharge_batch_total_positive"),
        ]


class Recharge(models.Model):
    """A mobile recharge sold by a seller; its debit is its ledger entry."""

    # Indexed by the composite index and constraints below, not column by column:
    # each index costs every sale. Phone numbers are never deleted, so the
    # foreign key to them needs no index.
    seller = models.ForeignKey("sellers.Seller", on_delete=models.PROTECT, related_name="recharges", db_index=False)
    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="recharges", db_index=False)
    amount = models.BigIntegerField()
    batch = models.ForeignKey(
        RechargeBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="recharges", db_index=False
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [
            models.Index(fields=["seller", "-id"], name="recharge_seller_newest"),
            models.Index(fields=["batch"], name="recharge_batch", condition=Q(batch__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount__lte=MAX_AMOUNT), name="recharge_amount_in_range"
            ),
            models.UniqueConstraint(
                fields=["seller", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="recharge_idempotency_key_unique_per_seller",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.amount} IRR to {self.phone_number_id}"
