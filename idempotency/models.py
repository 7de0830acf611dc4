from django.db import models
from django.db.models.functions import Now


class IdempotencyRecord(models.Model):
    """The first response to a seller's request made with an Idempotency-Key.

    Inserted in the same transaction as the work it guards, so a concurrent
    repeat waits on the UNIQUE (seller, key) index until the first commits and
    then replays its response (or, if the first rolled back, does the work).
    """

    # No index of its own: UNIQUE (seller, key) serves every lookup by seller,
    # and a second index tempted the planner into scanning all of a busy
    # seller's keys for one of them (loadtests.bench, 2 hot sellers).
    seller = models.ForeignKey("sellers.Seller", on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    status_code = models.SmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["seller", "key"], name="idempotency_key_unique_per_seller")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_at")]

    def __str__(self) -> str:
        return f"{self.seller_id}/{self.key}"
