import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

SECRET_PATTERN = r"^[0-9a-f]{64}$"  # noqa: S105 - the shape of a secret, not one
URL_MAX_LENGTH = 2048


class EventType(models.TextChoices):
    RECHARGE_SUCCEEDED = "recharge.succeeded", _("Recharge succeeded")
    RECHARGE_FAILED = "recharge.failed", _("Recharge failed")
    BALANCE_LOW = "balance.low", _("Low balance")


class CallbackEndpoint(models.Model):
    """Where a seller wants its events POSTed, and the secret that signs them.

    The secret is shown once, in the answer to the PUT that made it; the API
    and the admin never show it again.
    """

    seller = models.OneToOneField(
        "sellers.Seller", on_delete=models.CASCADE, related_name="callback_endpoint", verbose_name=_("seller")
    )
    url = models.CharField(_("URL"), max_length=URL_MAX_LENGTH)
    secret = models.CharField(_("secret"), max_length=64)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    updated_at = models.DateTimeField(_("updated at"), db_default=Now())

    class Meta:
        verbose_name = _("callback URL")
        verbose_name_plural = _("callback URLs")
        constraints = [
            models.CheckConstraint(condition=Q(secret__regex=SECRET_PATTERN), name="callback_endpoint_secret_hex"),
            models.CheckConstraint(condition=Q(url__regex=r"^https?://"), name="callback_endpoint_url_http"),
        ]

    def __str__(self):
        return f"{self.seller_id}: {self.url}"


class CallbackEvent(models.Model):
    """One event for a seller, delivered at least once to its callback URL.

    `body` is rendered once, when the event is recorded, so every attempt
    sends the same bytes. An event is pending until it is delivered (a 2xx)
    or abandoned (the retry horizon passed, or the seller removed its URL);
    the row stays either way.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    seller = models.ForeignKey(
        "sellers.Seller", on_delete=models.CASCADE, related_name="callback_events", verbose_name=_("seller")
    )
    type = models.CharField(_("type"), max_length=32, choices=EventType.choices)
    body = models.TextField(_("body"))
    created_at = models.DateTimeField(_("created at"))
    attempts = models.IntegerField(_("attempts"), default=0, db_default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_default=Now())
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    abandoned_at = models.DateTimeField(_("abandoned at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("callback event")
        verbose_name_plural = _("callback events")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivered_at__isnull=True, abandoned_at__isnull=True),
                name="callback_event_due",
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=EventType.values), name="callback_event_type_known"),
            models.CheckConstraint(condition=Q(attempts__gte=0), name="callback_event_attempts_non_negative"),
            models.CheckConstraint(
                condition=Q(delivered_at__isnull=True) | Q(abandoned_at__isnull=True),
                name="callback_event_delivered_or_abandoned",
            ),
            models.CheckConstraint(
                condition=Q(delivered_at__isnull=True) | Q(attempts__gte=1),
                name="callback_event_delivered_after_attempt",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.id}"

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.abandoned_at is not None:
            return "abandoned"
        return "pending"
