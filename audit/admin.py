import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.models import Event
from config.admin_display import number

FIELDS = (
    "created_at",
    "kind",
    "action",
    "table",
    "object_id",
    "seller",
    "actor",
    "address",
    "path",
    "db_role",
    "changes",
)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The trail, read only: staff with audit.view_event see it; no one adds,
    changes or deletes a row here (and PostgreSQL refuses it anyway)."""

    list_display = [number, "created_at", "kind", "action", "object_id", "seller", "actor", "address"]
    list_filter = [
        "kind",
        "action",
        ("seller", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["seller", "actor"]
    search_fields = ["object_id", "seller__name", "actor__username"]
    readonly_fields = FIELDS
    fields = FIELDS

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("before → after"))
    def changes(self, event):
        rows = [
            format_html(
                "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", key, _shown(event.before, key), _shown(event.after, key)
            )
            for key in sorted({*(event.before or {}), *(event.after or {})})
        ]
        head = format_html("<tr><th></th><th>{}</th><th>{}</th></tr>", _("before"), _("after"))
        return format_html("<table>{}{}</table>", head, format_html("".join(["{}"] * len(rows)), *rows))


def _shown(values: dict | None, key: str) -> str:
    if values is None or key not in values:
        return "—"
    return json.dumps(values[key], ensure_ascii=False)
