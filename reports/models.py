from django.db import models
from django.db.models import Q


class DayTotal(models.Model):
    """The ledger's totals of one closed business day: one seller's, or every
    seller's summed (seller NULL). Written only by reports.services.summarize_days;
    reports read these instead of the entries of days that are over."""

    seller = models.ForeignKey("sellers.Seller", on_delete=models.CASCADE, null=True, related_name="+", db_index=False)
    day = models.DateField()
    recharges = models.BigIntegerField()
    recharged_amount = models.BigIntegerField()
    refunded_amount = models.BigIntegerField()
    credited_amount = models.BigIntegerField()
    adjusted_amount = models.BigIntegerField()
    commission_amount = models.BigIntegerField()
    net = models.BigIntegerField(help_text="Signed sum of the day's entries.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["seller", "day"], name="day_total_one_per_seller_day", nulls_distinct=False
            ),
        ]
        indexes = [models.Index(fields=["day"], condition=Q(seller__isnull=True), name="day_total_all_sellers")]

    def __str__(self):
        return f"{self.day} {self.seller_id or 'all sellers'}"


class SummaryState(models.Model):
    """Which days DayTotal holds: every business day up to `through`, in
    `time_zone` (a change of BUSINESS_TIME_ZONE makes them all stale)."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    time_zone = models.CharField(max_length=64)
    through = models.DateField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="summary_state_one_row")]

    def __str__(self):
        return f"days summed through {self.through} ({self.time_zone})"
