from django.contrib import admin, messages

from config.errors import ApplicationError
from config.formats import rials
from credits import services
from credits.models import DECIDE_CREDIT_REQUESTS, CreditRequest


@admin.register(CreditRequest)
class CreditRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "seller_display", "amount_display", "status", "created_at", "decided_at", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["seller", "decided_by"]
    search_fields = ["seller__name", "seller__user__username"]
    raw_id_fields = ["seller"]
    actions = ["approve_selected", "reject_selected"]

    def get_readonly_fields(self, request, obj=None):
        # A request changes only through approve/reject; the form edits nothing.
        if obj is None:
            return []
        return ["seller", "amount_display", "status", "created_at", "decided_at", "decided_by"]

    def get_fields(self, request, obj=None):
        # A new request has no status, dates or decider to show yet (created_at would show its DatabaseDefault).
        if obj is None:
            return ["seller", "amount"]
        return ["seller", "amount_display", "status", "created_at", "decided_at", "decided_by"]

    @admin.display(description="seller", ordering="seller__name")
    def seller_display(self, credit_request):
        return f"{credit_request.seller.name} (#{credit_request.seller_id})"

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, credit_request):
        return rials(credit_request.amount)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.pk = services.request_credit(seller_id=obj.seller_id, amount=obj.amount).pk

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request):
        # The permission the API's approve and reject endpoints check (docs/permissions.md).
        return request.user.has_perm(DECIDE_CREDIT_REQUESTS)

    @admin.action(description="Approve selected credit requests", permissions=["decide"])
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, services.approve_credit_request, "approved")

    @admin.action(description="Reject selected credit requests", permissions=["decide"])
    def reject_selected(self, request, queryset):
        self._decide(request, queryset, services.reject_credit_request, "rejected")

    def _decide(self, request, queryset, decide, verb):
        done = skipped = 0
        for credit_request in queryset.order_by("pk"):
            if credit_request.status != CreditRequest.Status.PENDING:
                skipped += 1
                continue
            try:
                decide(credit_request_id=credit_request.pk, decided_by=request.user)
                done += 1
            except ApplicationError:
                skipped += 1
        self.message_user(request, f"{done} {verb}, {skipped} skipped (already decided).", messages.SUCCESS)
