from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class IdempotencyRecord(models.Model):
    """The first response to a request made with an Idempotency-Key.

    Inserted in the same transaction as the work it guards, so a concurrent
    repeat waits on the unique index until the first commits and then replays
    its response (or, if the first rolled back, does the work).

    A seller's own keys are scoped to the seller (`staff_user` NULL). A staff
    user's keys are scoped to that staff user and the seller the request acts
    on (NULL for a request that creates a seller), so neither can collide with
    or probe the other's.
    """

    # No index of its own: UNIQUE (seller, key) serves every lookup by seller,
    # and a second index tempted the planner into scanning all of a busy
    # seller's keys for one of them (loadtests.bench, 2 hot sellers).
    seller = models.ForeignKey("sellers.Seller", on_delete=models.CASCADE, related_name="+", db_index=False, null=True)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, null=True
    )
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    status_code = models.SmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            # The name is the one the sale SQL (ledger migrations) catches.
            models.UniqueConstraint(
                fields=["seller", "key"], condition=Q(staff_user__isnull=True), name="idempotency_key_unique_per_seller"
            ),
            models.UniqueConstraint(
                fields=["seller", "staff_user", "key"],
                condition=Q(staff_user__isnull=False),
                nulls_distinct=False,  # one key per staff user for the seller-less requests too
                name="idempotency_key_unique_per_staff_user",
            ),
            models.CheckConstraint(
                condition=Q(seller__isnull=False) | Q(staff_user__isnull=False), name="idempotency_record_has_a_scope"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_at")]

    def __str__(self) -> str:
        return f"{self.seller_id}/{self.key}"
