from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from callbacks.models import CallbackEndpoint, CallbackEvent
from config.admin_display import number

# An event's state (CallbackEvent.status), as staff read it.
STATUSES = {"pending": _("pending"), "delivered": _("delivered"), "abandoned": _("abandoned")}


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(admin.ModelAdmin):
    """Read only; the secret is never shown (sellers set endpoints through the API)."""

    list_display = ["seller", "url", "created_at", "updated_at"]
    search_fields = ["seller__name", "url"]
    fields = readonly_fields = ("seller", "url", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CallbackEvent)
class CallbackEventAdmin(admin.ModelAdmin):
    list_display = [number, "seller", "type", "status", "attempts", "created_at", "next_attempt_at", "last_error"]
    list_filter = ["type", ("delivered_at", admin.EmptyFieldListFilter), ("abandoned_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "seller__name"]
    list_select_related = ["seller"]
    fields = readonly_fields = (
        "id", "seller", "type", "status", "created_at", "attempts", "next_attempt_at",
        "delivered_at", "abandoned_at", "last_error", "body",
    )  # fmt: skip

    @admin.display(description=_("status"))
    def status(self, obj):
        return STATUSES[obj.status]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
