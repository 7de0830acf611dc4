from django.contrib import admin

from sellers.models import Seller


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "user", "balance", "created_at"]
    search_fields = ["name", "user__username"]
    # Balances change only through the ledger services.
    readonly_fields = ["balance", "ledger_sequence", "created_at"]
    raw_id_fields = ["user"]

    def has_delete_permission(self, request, obj=None):
        return False
