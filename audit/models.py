"""The audit trail: one append-only table that PostgreSQL triggers fill.

Triggers (audit/sql/audit_record.sql, installed by migration 0002) record every
change to money-relevant settings, whoever makes it, from Python or from
psql: credit request decisions, balance adjustments, commission rates, seller
limits and networks, API tokens, callback URLs, operators and products, staff
flags, groups and permissions. Who and from where come from the request's
context, which django-pghistory's middleware (audit.middleware) passes to
PostgreSQL with each write (`pghistory.context_metadata`); a change with no
context (a migration, psql) has no actor: its database role and the
connection's address say where it came from. Nobody may change or delete a row:
a trigger refuses UPDATE and DELETE (audit/sql/audit_event_append_only.sql).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

VIEW_AUDIT_TRAIL = "audit.view_event"


class Event(models.Model):
    class Kind(models.TextChoices):
        CREDIT_REQUEST = "credit_request", _("credit request decision")
        BALANCE_ADJUSTMENT = "balance_adjustment", _("balance adjustment")
        COMMISSION_RATE = "commission_rate", _("commission rate")
        SELLER_SETTINGS = "seller_settings", _("seller limits and networks")
        API_TOKEN = "api_token", _("API token")
        CALLBACK_ENDPOINT = "callback_endpoint", _("callback URL")
        OPERATOR = "operator", _("operator")
        PRODUCT = "product", _("product")
        STAFF_USER = "staff_user", _("staff flags")
        USER_GROUP = "user_group", _("user's group")
        USER_PERMISSION = "user_permission", _("user's permission")
        GROUP_PERMISSION = "group_permission", _("group's permission")
        ADDRESS_REFUSED = "address_refused", _("API token refused for its address")

    class Action(models.TextChoices):
        INSERT = "INSERT", _("created")
        UPDATE = "UPDATE", _("changed")
        DELETE = "DELETE", _("deleted")
        REFUSED = "REFUSED", _("refused")

    created_at = models.DateTimeField(_("when"), db_default=models.functions.Now())
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    table = models.CharField(_("table"), max_length=64)
    object_id = models.CharField(_("object"), max_length=64)
    # No foreign-key constraints: the trail outlives what it names, and a
    # trigger on another app's table must never fail over this one.
    seller = models.ForeignKey(
        "sellers.Seller",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("seller"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    path = models.CharField(_("path"), max_length=255, blank=True, default="", db_default="")
    # The database role that made the change: the application's, or a person's in psql.
    db_role = models.CharField(
        _("database role"),
        max_length=64,
        blank=True,
        db_default=models.Func(template="session_user", output_field=models.CharField()),
    )
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        # Only view_event matters: the admin grants no add, change or delete
        # (the rows are written by triggers), and PostgreSQL refuses the last two.
        indexes = [
            models.Index(fields=["seller", "-id"], name="audit_event_seller_newest"),
            models.Index(fields=["actor", "-id"], name="audit_event_actor_newest"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.object_id}"
