from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin_display import money, number
from sellers.models import MANAGE_TOKENS, Seller
from sellers.services import issue_api_token, revoke_api_tokens, rotate_api_token

LIMITS = ["max_recharge_amount", "daily_amount", "number_hourly_count", "low_balance_threshold"]


class SellerForm(forms.ModelForm):
    class Meta:
        model = Seller
        fields = ["user", "name", *LIMITS, "allowed_networks"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        # A staff account is refused by every seller endpoint (403): it cannot sell.
        if user.is_staff or user.is_superuser:
            raise forms.ValidationError(gettext("This user is staff; a seller needs its own non-staff user."))
        return user


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    form = SellerForm
    list_display = [number, "name", "user", "balance_display", "created_at"]
    search_fields = ["name", "user__username"]
    # Balances and the day's running total change only through the ledger services.
    readonly_fields = [
        "balance_display",
        "ledger_sequence",
        "created_at",
        "daily_amount_used_display",
        "daily_amount_day",
    ]
    raw_id_fields = ["user"]
    actions = ["rotate_token", "revoke_tokens"]

    def get_readonly_fields(self, request, obj=None):
        # A seller's login is fixed once made: changing it would hand its balance to another user.
        return self.readonly_fields if obj is None else [*self.readonly_fields, "user"]

    def save_model(self, request, obj, form, change):
        # Only what the form edits: writing back the balance it read would undo a sale made meanwhile.
        obj.save(update_fields=form.changed_data if change else None)

    def get_fieldsets(self, request, obj=None):
        # No read-only values on the add form: created_at does not exist until the row does.
        if obj is None:
            return [(None, {"fields": ["user", "name"]})]
        return [
            (None, {"fields": ["user", "name", "balance_display", "ledger_sequence", "created_at"]}),
            (
                _("Limits"),
                {
                    "fields": [*LIMITS, "daily_amount_used_display", "daily_amount_day"],
                    "description": _("Empty: no limit. The day's amount used is that of the business day shown."),
                },
            ),
            (_("API token"), {"fields": ["allowed_networks"]}),
        ]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("balance"), ordering="balance")
    def balance_display(self, seller):
        return money(seller.balance)

    @admin.display(description=_("daily amount used"))
    def daily_amount_used_display(self, seller):
        return money(seller.daily_amount_used)

    def response_add(self, request, obj, post_url_continue=None):
        key = issue_api_token(user=obj.user)
        message = gettext("API token for %(seller)s (shown once, copy it now): %(key)s")
        self.message_user(request, message % {"seller": obj.name, "key": key}, messages.WARNING)
        return super().response_add(request, obj, post_url_continue)

    def has_manage_tokens_permission(self, request):
        # A new key acts as the seller: more than changing the seller's name.
        return request.user.has_perm(MANAGE_TOKENS)

    @admin.action(
        description=_("Rotate API token (revokes the old one, shows the new one once)"), permissions=["manage_tokens"]
    )
    def rotate_token(self, request, queryset):
        for seller in queryset.select_related("user"):
            key = rotate_api_token(user=seller.user)
            message = gettext("New API token for %(seller)s: %(key)s")
            self.message_user(request, message % {"seller": seller.name, "key": key}, messages.WARNING)

    @admin.action(description=_("Revoke API tokens"), permissions=["manage_tokens"])
    def revoke_tokens(self, request, queryset):
        revoked = sum(revoke_api_tokens(user=seller.user) for seller in queryset.select_related("user"))
        message = ngettext("Revoked %(count)s token.", "Revoked %(count)s tokens.", revoked)
        self.message_user(request, message % {"count": revoked}, messages.SUCCESS)
