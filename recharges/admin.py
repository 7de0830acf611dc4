import contextlib
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import BigIntegerField, Case, CharField, F, Func, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_display import money, national_number, number, seller
from config.errors import ApplicationError
from config.formats import rials
from config.permissions import requires
from ledger.errors import SecondApproverRequired
from recharges.delivery import resolvable, resolve_recharge
from recharges.errors import AlreadyFinal, DeliveryInProgress, FloatNotCovering, RefundNotWritable
from recharges.floats import PrepaymentAlreadyRecorded, approve_prepayment, record_prepayment, set_float_alert
from recharges.models import CommissionRate, FloatEntry, Operator, OperatorFloat, Prepayment, Product, Recharge
from recharges.phone_numbers import InvalidPhoneNumber, to_e164
from sellers.admin import SellerAdmin
from sellers.models import Seller

# Why staff could not resolve a recharge, in the page's language (the errors' own messages are the API's English).
REFUSALS = {
    AlreadyFinal: _("it is already final; its status cannot change."),
    DeliveryInProgress: _(
        "its top-up was sent and the worker is still asking the operator for its outcome, which may yet be a"
        " delivery. It waits for staff once past the delivery horizon."
    ),
    FloatNotCovering: _(
        "its operator's float does not cover it (it was sold before the float was tracked); record a prepayment first."
    ),
    RefundNotWritable: _(
        "its refund would take the seller's balance past the largest amount the ledger holds; nothing was written."
        " Lower the balance with an adjustment, then resolve it as failed."
    ),
}


class OperatorForm(forms.ModelForm):
    class Meta:
        model = Operator
        fields = ["code", "name", "name_fa", "enabled", "min_amount", "max_amount", "denominations"]

    def clean_denominations(self):
        # An emptied field is "any amount" (NULL): an empty list is no valid value.
        return self.cleaned_data["denominations"] or None


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    form = OperatorForm
    list_display = ["code", "name", "name_fa", "enabled", "min_amount", "max_amount", "denominations_display"]
    list_editable = ["enabled", "min_amount", "max_amount"]

    @admin.display(description=_("denominations"))
    def denominations_display(self, operator):
        return ", ".join(f"{amount:,}" for amount in operator.denominations) if operator.denominations else _("any")

    def get_readonly_fields(self, request, obj=None):
        # Recharges keep the code they were sold under.
        return ["code"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "operator",
        "name",
        "name_fa",
        "amount_display",
        "data_mb",
        "validity_days",
        "enabled",
    ]
    list_editable = ["enabled"]
    list_filter = ["operator", "enabled"]
    search_fields = ["code", "name", "name_fa"]

    def get_readonly_fields(self, request, obj=None):
        # Recharges keep the code they were sold under.
        return ["code"] if obj else []

    def has_delete_permission(self, request, obj=None):
        # Recharges name products by code; disable one instead.
        return False

    @admin.display(description=_("price"), ordering="amount")
    def amount_display(self, product):
        return money(product.amount)


class CommissionRateInline(admin.TabularInline):
    """Rates in basis points, one row per operator (none: rate 0). The sale
    copies the rate onto the recharge, so a change applies to later sales."""

    model = CommissionRate
    fields = ["operator", "rate"]
    extra = 0
    verbose_name_plural = _("commission rates (basis points: 250 is 2.5 %; an operator not listed earns nothing)")


class SellerWithRatesAdmin(SellerAdmin):
    """The seller's page with its commission rates: the rates are this app's,
    which sits above sellers, so the page gains them here."""

    inlines = [CommissionRateInline]

    def get_inlines(self, request, obj):
        # Rates belong to a seller that exists.
        return self.inlines if obj is not None else []


admin.site.unregister(Seller)
admin.site.register(Seller, SellerWithRatesAdmin)


class OperatorFilter(admin.SimpleListFilter):
    """The operators by name (a recharge keeps only the code)."""

    title = _("operator")
    parameter_name = "operator"

    def lookups(self, request, model_admin):
        return [(operator.code, str(operator)) for operator in Operator.objects.all()]

    def queryset(self, request, queryset):
        return queryset.filter(operator=self.value()) if self.value() else queryset


class PastHorizonFilter(admin.SimpleListFilter):
    title = _("delivery")
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [
            ("stuck", _("Needs staff: past the horizon, or its outcome could not be written")),
            ("queued", _("Pending, still being asked")),
        ]

    def queryset(self, request, queryset):
        horizon = timezone.now() - timedelta(seconds=settings.DELIVERY_HORIZON_SECONDS)
        if self.value() == "stuck":
            return queryset.filter(Q(next_attempt_at__isnull=True) | Q(created_at__lt=horizon), status="pending")
        if self.value() == "queued":
            return queryset.filter(status="pending", next_attempt_at__isnull=False, created_at__gte=horizon)
        return queryset


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            ("successful", _("Successful at the operator")),
            ("failed", _("Failed: refund the seller (not delivered)")),
        ],
        widget=forms.RadioSelect,
    )
    operator_reference = forms.CharField(
        label=_("Operator reference"),
        max_length=128,
        required=False,
        help_text=_("The operator's id for the top-up (required when successful)."),
    )

    def clean(self):
        data = super().clean() or {}
        if data.get("outcome") == "successful" and not data.get("operator_reference", "").strip():
            self.add_error("operator_reference", gettext("Give the operator's reference for a successful top-up."))
        return data


# The recharge's page shows every field, these as people read them.
SHOWN_AS = {
    "phone_number": "phone",
    "amount": "amount_display",
    "operator": "operator_name",
    "failure_message": "failure_message_display",
}


@admin.register(Recharge)
class RechargeAdmin(admin.ModelAdmin):
    # What fits a 1366 px screen: the failure and "Resolve…" beside the status,
    # the last error cut short, the completion time on the recharge's page.
    list_display = [
        number,
        seller,
        "phone",
        "amount_display",
        "operator_name",
        "product",
        "rate",
        "commission_display",
        "status_display",
        "created_at",
        "last_error_display",
    ]
    list_filter = ["status", OperatorFilter, PastHorizonFilter, "failure_code", "created_at"]
    # topup_reference__exact compares the UUID as text, so a term that is no UUID finds nothing instead of failing.
    search_fields = [
        "=phone_number__e164",
        "seller__name",
        "=operator_reference",
        "=idempotency_key",
        "topup_reference__exact",
    ]
    list_select_related = ["seller", "phone_number"]
    show_full_result_count = False

    def get_queryset(self, request):
        # The commission is not stored on the recharge: it is the SQL
        # function's, once successful, as the API's JSON computes it.
        commission = Func(F("amount"), F("commission_rate"), function="commission_of", output_field=BigIntegerField())
        return (
            super()
            .get_queryset(request)
            .annotate(
                commission=Case(When(status=Recharge.Status.SUCCESSFUL, then=commission), default=Value(0)),
                operator_name=_operator_names(),
            )
        )

    def get_fields(self, request, obj=None):
        # All shown read-only (no change permission on a recharge); its number is the page's title.
        fields = [SHOWN_AS.get(field.name, field.name) for field in Recharge._meta.fields if field.name != "id"]
        # The commission earned, next to the rate it comes from.
        after_rate = fields.index("commission_rate") + 1
        return [*fields[:after_rate], "commission_display", *fields[after_rate:]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # A recharge's page only shows it (no Save): saving the row it read
        # would undo what the delivery worker wrote meanwhile (a claim's
        # topup_requested_at: the top-up would be sent twice). Only
        # resolve_recharge changes a recharge (its "Resolve…" page).
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, recharge):
        return money(recharge.amount)

    @admin.display(description=_("operator"), ordering="operator_name")
    def operator_name(self, recharge):
        return recharge.operator_name

    @admin.display(description=_("rate"), ordering="commission_rate")
    def rate(self, recharge):
        # Basis points as a percentage: 250 -> 2.5%.
        return f"{Decimal(recharge.commission_rate) / 100}%"

    @admin.display(description=_("commission"), ordering="commission")
    def commission_display(self, recharge):
        return money(recharge.commission)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, recharge):
        status = recharge.get_status_display()
        if recharge.status == Recharge.Status.PENDING:
            if not resolvable(recharge):
                return gettext("%(status)s (being delivered)") % {"status": status}
            url = reverse("admin:recharges_recharge_resolve", args=[recharge.pk])
            return format_html('{} <a href="{}">{}</a>', status, url, gettext("Resolve…"))
        if recharge.failure_code is None:
            return status
        return gettext("%(status)s (%(failure)s)") % {"status": status, "failure": recharge.get_failure_code_display()}

    @admin.display(description=_("failure message"))
    def failure_message_display(self, recharge):
        # The stored message is the API's English; the page says it in its own language.
        reason = Recharge.FAILURE_REASONS.get(recharge.failure_code)
        return recharge.failure_message if reason is None else str(reason)

    @admin.display(description=_("last error"))
    def last_error_display(self, recharge):
        # The whole of it on hover and on the recharge's page.
        return format_html('<span title="{}">{}</span>', recharge.last_error, Truncator(recharge.last_error).chars(40))

    def get_search_results(self, request, queryset, search_term):
        # People type numbers as they please: 0912..., +98 912 ...
        with contextlib.suppress(InvalidPhoneNumber):
            search_term = to_e164(search_term)
        # A UUID as text is lower case; every other field is searched ignoring case.
        search_term = search_term.lower()
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("phone number"), ordering="phone_number__e164")
    def phone(self, recharge):
        return national_number(recharge.phone_number)

    def get_urls(self):
        resolve = self.admin_site.admin_view(self.resolve_view)
        return [path("<int:recharge_id>/resolve/", resolve, name="recharges_recharge_resolve"), *super().get_urls()]

    @method_decorator(requires("recharges.change_recharge"))
    def resolve_view(self, request, recharge_id):
        recharge = get_object_or_404(
            self.get_queryset(request).select_related("seller", "phone_number"), pk=recharge_id
        )
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._resolve(request, recharge, form.cleaned_data)
            return redirect("admin:recharges_recharge_change", recharge.pk)
        context = {
            **self.admin_site.each_context(request),
            "recharge": recharge,
            "amount": rials(recharge.amount),
            "phone": national_number(recharge.phone_number),
            "form": form,
            "opts": self.model._meta,
            "title": gettext("Resolve recharge #%(id)s") % {"id": recharge.pk},
        }
        return TemplateResponse(request, "admin/recharges/recharge/resolve.html", context)

    def _resolve(self, request, recharge, data):
        try:
            resolve_recharge(
                recharge_id=recharge.pk,
                successful=data["outcome"] == "successful",
                operator_reference=data["operator_reference"].strip(),
                resolved_by=request.user,
            )
        except ApplicationError as error:
            reason = REFUSALS.get(type(error), error.message)
            message = gettext("Recharge #%(id)s was not resolved: %(reason)s") % {"id": recharge.pk, "reason": reason}
            self.message_user(request, message, messages.ERROR)
        else:
            self.message_user(request, gettext("Recharge #%(id)s resolved.") % {"id": recharge.pk}, messages.SUCCESS)


def _operator_names():
    """Each recharge's operator as Operator.__str__ names it in the page's
    language (the operators are a handful of rows); the code if it has none."""
    names = [When(operator=operator.code, then=Value(str(operator))) for operator in Operator.objects.all()]
    return Case(*names, default=F("operator"), output_field=CharField())


@admin.register(OperatorFloat)
class OperatorFloatAdmin(admin.ModelAdmin):
    """The platform's float at each operator, read only: prepayments and
    deliveries move it (recharges/floats.py). A float appears here with its
    operator's first prepayment; until then its sales are never refused for it."""

    list_display = [
        "operator",
        "float_display",
        "pending_display",
        "available",
        "burn",
        "hours_left",
        "alert_below_hours",
    ]
    # Only the warning threshold is staff's to edit: the money moves through recharges/floats.py.
    fields = ["operator", "balance", "pending", "alert_below_hours"]
    readonly_fields = ["operator", "balance", "pending"]

    def get_queryset(self, request):
        # The last hour's draws, as operator_float_state.sql counts them.
        drawn = (
            FloatEntry.objects.filter(
                operator=OuterRef("pk"), kind=FloatEntry.Kind.DRAW, created_at__gte=timezone.now() - timedelta(hours=1)
            )
            .values("operator")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return super().get_queryset(request).annotate(drawn=Coalesce(-Subquery(drawn), 0))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Never a save of the whole row, whose balance the form read earlier.
        set_float_alert(operator=obj.pk, alert_below_hours=obj.alert_below_hours)

    @admin.display(description=_("float"), ordering="balance")
    def float_display(self, account):
        return money(account.balance)

    @admin.display(description=_("pending"), ordering="pending")
    def pending_display(self, account):
        return money(account.pending)

    @admin.display(description=_("available"))
    def available(self, account):
        return money(account.balance - account.pending)

    @admin.display(description=_("burn per hour"), ordering="drawn")
    def burn(self, account):
        return money(account.drawn)

    @admin.display(description=_("hours left"))
    def hours_left(self, account):
        if not account.drawn:
            return "—"
        return f"{(account.balance - account.pending) / account.drawn:,.1f}"


class PrepaymentForm(forms.ModelForm):
    class Meta:
        model = Prepayment
        fields = ["operator", "amount", "bank_reference"]


@admin.register(Prepayment)
class PrepaymentAdmin(admin.ModelAdmin):
    """Money paid to an operator, recorded with the bank's reference; above
    FOUR_EYES_PREPAYMENT_THRESHOLD a second staff member approves it."""

    form = PrepaymentForm
    list_display = [
        number,
        "operator",
        "amount_display",
        "bank_reference",
        "status",
        "created_by",
        "approved_by",
        "created_at",
    ]
    list_filter = ["status", "operator"]
    search_fields = ["=bank_reference"]
    fields = ["operator", "amount", "bank_reference"]
    actions = ["approve_selected"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, prepayment):
        return money(prepayment.amount)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Outside the admin's request-wide transaction: record_prepayment is durable.
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]  # Django's own, unwrapped
        except PrepaymentAlreadyRecorded:
            message = gettext(
                "Refused: this bank reference is already recorded for this operator; nothing was written."
            )
            self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        prepayment = record_prepayment(
            operator=obj.operator_id, amount=obj.amount, bank_reference=obj.bank_reference, created_by=request.user
        )
        obj.pk = prepayment.pk
        if prepayment.status == Prepayment.Status.AWAITING_SECOND_APPROVAL:
            message = gettext("Prepayment #%(id)s adds nothing yet: a second staff member must approve it.")
            self.message_user(request, message % {"id": prepayment.pk}, messages.WARNING)

    @admin.action(description=_("Approve selected prepayments (second approval)"), permissions=["add"])
    def approve_selected(self, request, queryset):
        waiting = queryset.filter(status=Prepayment.Status.AWAITING_SECOND_APPROVAL).order_by("pk")
        done = refused = 0
        for prepayment in waiting:
            try:
                approve_prepayment(prepayment_id=prepayment.pk, approved_by=request.user)
                done += 1
            except SecondApproverRequired:
                refused += 1
                message = gettext("#%(id)s: Refused: a second, different staff member must approve it (four eyes).")
                self.message_user(request, message % {"id": prepayment.pk}, messages.ERROR)
        message = gettext("%(done)s prepayments applied, %(refused)s refused.")
        self.message_user(request, message % {"done": done, "refused": refused}, messages.SUCCESS)


@admin.register(FloatEntry)
class FloatEntryAdmin(admin.ModelAdmin):
    list_display = [
        number,
        "operator",
        "sequence",
        "kind",
        "signed_amount",
        "balance",
        "recharge",
        "prepayment",
        "created_at",
    ]
    list_filter = ["operator", "kind"]
    list_select_related = ["recharge", "prepayment"]
    fields = [
        "operator",
        "sequence",
        "kind",
        "signed_amount",
        "balance",
        "recharge",
        "prepayment",
        "note",
        "created_at",
    ]

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
