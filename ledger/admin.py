from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from ledger import services
from ledger.errors import InsufficientBalance
from ledger.models import BalanceAdjustment, LedgerEntry


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["id", "seller", "sequence", "kind", "amount", "balance_after", "created_at"]
    list_filter = ["kind"]
    search_fields = ["seller__name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BalanceAdjustment)
class BalanceAdjustmentAdmin(admin.ModelAdmin):
    list_display = ["id", "seller", "amount", "reason", "created_by", "created_at"]
    raw_id_fields = ["seller"]
    fields = ["seller", "amount", "reason"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Not inside the admin's usual request-wide transaction: adjust_balance
        # is then a transaction of its own, holding the seller lock briefly.
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]  # Django's own, unwrapped
        except InsufficientBalance as error:
            self.message_user(request, f"Refused: {error.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        entry = services.adjust_balance(
            seller_id=obj.seller_id, amount=obj.amount, reason=obj.reason, created_by=request.user
        )
        obj.pk = entry.adjustment_id
