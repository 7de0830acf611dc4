from django.contrib import admin, messages

from sellers.models import Seller
from sellers.services import revoke_api_tokens, rotate_api_token


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "user", "balance", "created_at"]
    search_fields = ["name", "user__username"]
    # Balances change only through the ledger services.
    readonly_fields = ["balance", "ledger_sequence", "created_at"]
    raw_id_fields = ["user"]
    actions = ["rotate_token", "revoke_tokens"]

    def save_model(self, request, obj, form, change):
        # Only what the form edits: writing back the balance it read would undo a sale made meanwhile.
        obj.save(update_fields=form.changed_data if change else None)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Rotate API token (revokes the old one, shows the new one once)")
    def rotate_token(self, request, queryset):
        for seller in queryset.select_related("user"):
            key = rotate_api_token(user=seller.user)
            self.message_user(request, f"New API token for {seller.name}: {key}", messages.WARNING)

    @admin.action(description="Revoke API tokens")
    def revoke_tokens(self, request, queryset):
        revoked = sum(revoke_api_tokens(user=seller.user) for seller in queryset.select_related("user"))
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
