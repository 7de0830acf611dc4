import csv
import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_display import money, national_number, number, seller
from config.errors import ApplicationError
from config.formats import rials
from idempotency.api import valid_idempotency_key
from idempotency.services import request_hash, run_idempotent
from ledger import services
from ledger.errors import BalanceLimitExceeded, InsufficientBalance, SecondApproverRequired
from ledger.models import BalanceAdjustment, LedgerEntry
from sellers.models import Seller

EXPORT_COLUMNS = [
    "seller_id",
    "sequence",
    "created_at",
    "kind",
    "amount",
    "balance_after",
    "credit_request_id",
    "recharge_id",
    "adjustment_id",
]


class _Echo:
    """A file whose write returns the line, so csv.writer feeds a stream."""

    def write(self, value):
        return value


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = [number, seller, "sequence", "kind", "signed_amount", "balance", "phone_number", "created_at"]
    # Its page: the amounts as the list shows them, the source it came from.
    fields = [
        "seller", "sequence", "kind", "signed_amount", "balance", "credit_request", "recharge", "adjustment",
        "created_at",
    ]  # fmt: skip
    list_filter = ["kind", "seller", "created_at"]
    list_select_related = ["seller", "recharge__phone_number"]
    search_fields = ["seller__name", "=recharge__phone_number__e164"]
    actions = ["export_csv"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def signed_amount(self, entry):
        return money(entry.amount, signed=True)

    @admin.display(description=_("balance after"), ordering="balance_after")
    def balance(self, entry):
        return money(entry.balance_after)

    @admin.display(description=_("phone number"))
    def phone_number(self, entry):
        # The number as people write it (the phone number's own str).
        return national_number(entry.recharge.phone_number) if entry.recharge_id else ""

    @admin.action(description=_("Export selected entries as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        # Streamed from a server-side cursor: "select all" on millions of rows
        # never sits in the worker's memory.
        rows = queryset.order_by("seller_id", "sequence").values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000)
        writer = csv.writer(_Echo())
        lines = (writer.writerow(row) for row in _with_header(rows))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="ledger-entries.csv"'
        return response


def _with_header(rows):
    yield EXPORT_COLUMNS
    for row in rows:
        yield [value.isoformat() if hasattr(value, "isoformat") else value for value in row]


class BalanceAdjustmentForm(forms.ModelForm):
    # One key per rendered form: a double submit or a resend replays the
    # first answer, as the API's Idempotency-Key does, and posts nothing more.
    submission = forms.CharField(widget=forms.HiddenInput, max_length=255, label="")

    class Meta:
        model = BalanceAdjustment
        fields = ["seller", "amount", "reason"]

    def clean_submission(self):
        key = self.cleaned_data["submission"]
        if not valid_idempotency_key(key):
            raise forms.ValidationError(gettext("This form is stale; open it again."))
        return key

    def clean(self):
        data = super().clean() or {}
        seller, amount = data.get("seller"), data.get("amount")
        # A first look for a clear form error; the ledger service re-checks under the seller lock.
        if seller is not None and amount is not None:
            balance = Seller.objects.values_list("balance", flat=True).get(pk=seller.pk)
            if balance + amount < 0:
                message = gettext("Refused: the balance is %(balance)s; a debit of %(debit)s would overdraw it.")
                raise forms.ValidationError(message % {"balance": rials(balance), "debit": rials(-amount)})
        return data


@admin.register(BalanceAdjustment)
class BalanceAdjustmentAdmin(admin.ModelAdmin):
    form = BalanceAdjustmentForm
    list_display = [
        number,
        "seller",
        "signed_amount",
        "reason",
        "status",
        "created_by",
        "approved_by",
        "rejected_by",
        "created_at",
    ]
    list_filter = ["status"]
    raw_id_fields = ["seller"]
    fields = ["seller", "amount", "reason", "submission"]
    # The second approval (four eyes), or the rejection, needs what making one needs, as in the API.
    actions = ["approve_selected", "reject_selected"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def signed_amount(self, adjustment):
        return money(adjustment.amount, signed=True)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Not inside the admin's usual request-wide transaction: adjust_balance
        # is then a transaction of its own, holding the seller lock briefly.
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]  # Django's own, unwrapped
        except ApplicationError as error:
            self.message_user(request, _refusal(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "submission": f"admin-{uuid.uuid4()}"}

    def save_model(self, request, obj, form, change):
        def adjust():
            result = services.adjust_balance(
                seller_id=obj.seller_id, amount=obj.amount, reason=obj.reason, created_by=request.user
            )
            if isinstance(result, BalanceAdjustment):
                return 201, {"id": result.pk, "waits": True}
            return 201, {"id": result.adjustment_id, "waits": False}

        status, body, _ = run_idempotent(
            seller_id=obj.seller_id,
            staff_user_id=request.user.pk,
            key=form.cleaned_data["submission"],
            endpoint="admin-adjustments",
            request_hash=request_hash({"amount": obj.amount, "reason": obj.reason}),
            action=adjust,
        )
        if status != 201:  # a refusal the key stored (402, or the ledger's limit), replayed as it was
            refusal = body["error"]
            raise _STORED_REFUSALS[refusal["code"]](details=refusal.get("details"))
        obj.pk = body["id"]
        if body["waits"]:
            message = gettext("Adjustment #%(id)s posts nothing yet: a second staff member must approve it.")
            self.message_user(request, message % {"id": obj.pk}, messages.WARNING)

    @admin.action(description=_("Approve selected adjustments (second approval)"), permissions=["add"])
    def approve_selected(self, request, queryset):
        waiting = queryset.filter(status=BalanceAdjustment.Status.AWAITING_SECOND_APPROVAL).order_by("pk")
        done = refused = 0
        for adjustment in waiting:
            try:
                services.approve_adjustment(
                    seller_id=adjustment.seller_id, adjustment_id=adjustment.pk, approved_by=request.user
                )
                done += 1
            except ApplicationError as error:
                refused += 1
                self.message_user(request, f"#{adjustment.pk}: {_refusal(error)}", messages.ERROR)
        message = gettext("%(done)s adjustments applied, %(refused)s refused.")
        self.message_user(request, message % {"done": done, "refused": refused}, messages.SUCCESS)

    @admin.action(description=_("Reject selected adjustments (waiting for a second approval)"), permissions=["add"])
    def reject_selected(self, request, queryset):
        waiting = queryset.filter(status=BalanceAdjustment.Status.AWAITING_SECOND_APPROVAL).order_by("pk")
        rejected = 0
        for adjustment in waiting:
            try:
                services.reject_adjustment(
                    seller_id=adjustment.seller_id, adjustment_id=adjustment.pk, rejected_by=request.user
                )
                rejected += 1
            except ApplicationError as error:  # applied meanwhile by another staff member
                self.message_user(request, f"#{adjustment.pk}: {_refusal(error)}", messages.ERROR)
        message = gettext("%(rejected)s adjustments rejected; they never post.")
        self.message_user(request, message % {"rejected": rejected}, messages.SUCCESS)


# The refusals an adjustment's key stores, by code (run_idempotent keeps them as bodies).
_STORED_REFUSALS: dict[str, type[ApplicationError]] = {
    InsufficientBalance.code: InsufficientBalance,
    BalanceLimitExceeded.code: BalanceLimitExceeded,
}


def _refusal(error: ApplicationError) -> str:
    """Why the ledger refused an adjustment, in the page's language."""
    if isinstance(error, InsufficientBalance):
        # The balance fell between the form's check and the locked debit.
        message = gettext(
            "Refused: The balance does not cover this debit; nothing was charged. The balance is %(balance)s."
        )
        return message % {"balance": rials((error.details or {}).get("balance"))}
    if isinstance(error, BalanceLimitExceeded):
        return gettext(
            "Refused: This credit would take the balance past the largest amount the ledger holds; nothing was written."
        )
    if isinstance(error, SecondApproverRequired):
        return gettext("Refused: a second, different staff member must approve it (four eyes).")
    return gettext("Refused: %(reason)s") % {"reason": error.message}
