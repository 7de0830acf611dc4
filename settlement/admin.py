from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_display import money, number
from recharges.errors import FloatNotCovering
from settlement.errors import CaseAlreadyResolved
from settlement.models import Settlement, SettlementCase
from settlement.services import resolve_case


@admin.register(Settlement)
class SettlementAdmin(admin.ModelAdmin):
    """Each settlement run, read only (manage.py settle, the daily job)."""

    list_display = [number, "operator", "day", "statement_lines", "recharges", "matched", "differences", "settled_at"]
    list_filter = ["operator", "day"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ResolveCaseForm(forms.ModelForm):
    note = forms.CharField(
        label=_("note"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What was found and done; required to resolve the case."),
    )

    class Meta:
        model = SettlementCase
        fields = ["note"]


class OpenFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("resolved", _("Resolved"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(SettlementCase)
class SettlementCaseAdmin(admin.ModelAdmin):
    """A difference a settlement found. Staff resolve it on its page with a
    note; a charged-but-refunded one then writes the operator's charge off
    its float (settlement.services.resolve_case)."""

    form = ResolveCaseForm
    list_display = [number, "operator", "day", "kind", "reference", "ours", "theirs", "msisdn", "resolved_at"]
    list_filter = [OpenFilter, "kind", "operator", "day"]
    search_fields = ["=reference", "=msisdn"]
    readonly_fields = [
        "operator", "day", "kind", "reference", "recharge", "our_amount", "our_status", "their_amount",
        "their_status", "their_reference", "msisdn", "created_at", "resolved_at", "resolved_by", "loss",
    ]  # fmt: skip
    fields = [*readonly_fields, "note"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # A resolved case is only seen: it keeps its note.
        return super().has_change_permission(request, obj) and (obj is None or obj.resolved_at is None)

    @admin.display(description=_("ours"))
    def ours(self, case):
        return money(case.our_amount) if case.our_amount is not None else "—"

    @admin.display(description=_("theirs"))
    def theirs(self, case):
        return money(case.their_amount) if case.their_amount is not None else "—"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Outside the admin's request-wide transaction: resolve_case is durable.
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]  # Django's own, unwrapped
        except CaseAlreadyResolved:
            self.message_user(request, gettext("Refused: this case is already resolved."), messages.ERROR)
        except FloatNotCovering:
            message = gettext(
                "Refused: the operator's float does not cover this loss; record a prepayment first. Nothing was written."
            )
            self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        resolve_case(case_id=obj.pk, note=form.cleaned_data["note"], resolved_by=request.user)
