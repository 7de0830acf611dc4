import contextlib
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import BigIntegerField, Case, F, Func, Q, Value, When
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html

from config.errors import ApplicationError
from config.formats import rials
from config.permissions import requires
from recharges.delivery import resolve_recharge
from recharges.models import CommissionRate, Operator, Product, Recharge
from recharges.phone_numbers import InvalidPhoneNumber, to_e164
from sellers.admin import SellerAdmin
from sellers.models import Seller


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

    @admin.display(description="denominations")
    def denominations_display(self, operator):
        return ", ".join(f"{amount:,}" for amount in operator.denominations) if operator.denominations else "any"

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

    @admin.display(description="price", ordering="amount")
    def amount_display(self, product):
        return rials(product.amount)


class CommissionRateInline(admin.TabularInline):
    """Rates in basis points, one row per operator (none: rate 0). The sale
    copies the rate onto the recharge, so a change applies to later sales."""

    model = CommissionRate
    fields = ["operator", "rate"]
    extra = 0
    verbose_name_plural = "commission rates (basis points: 250 is 2.5 %; an operator not listed earns nothing)"


class SellerWithRatesAdmin(SellerAdmin):
    """The seller's page with its commission rates: the rates are this app's,
    which sits above sellers, so the page gains them here."""

    inlines = [CommissionRateInline]

    def get_inlines(self, request, obj):
        # Rates belong to a seller that exists.
        return self.inlines if obj is not None else []


admin.site.unregister(Seller)
admin.site.register(Seller, SellerWithRatesAdmin)


class PastHorizonFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [
            ("stuck", "Needs staff: past the horizon, or its outcome could not be written"),
            ("queued", "Pending, still being asked"),
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
        choices=[("successful", "Successful at the operator"), ("failed", "Failed: refund the seller (not_delivered)")],
        widget=forms.RadioSelect,
    )
    operator_reference = forms.CharField(
        max_length=128, required=False, help_text="The operator's id for the top-up (required when successful)."
    )

    def clean(self):
        data = super().clean() or {}
        if data.get("outcome") == "successful" and not data.get("operator_reference", "").strip():
            self.add_error("operator_reference", "Give the operator's reference for a successful top-up.")
        return data


@admin.register(Recharge)
class RechargeAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "seller",
        "phone",
        "amount",
        "operator",
        "product",
        "commission_rate",
        "commission",
        "status",
        "failure_code",
        "created_at",
        "completed_at",
        "last_error",
        "resolve",
    ]
    list_filter = ["status", "operator", PastHorizonFilter, "failure_code", "created_at"]
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
            .annotate(commission=Case(When(status=Recharge.Status.SUCCESSFUL, then=commission), default=Value(0)))
        )

    def get_readonly_fields(self, request, obj=None):
        fields = [field.name for field in Recharge._meta.fields]
        # The commission earned, next to the rate it comes from.
        after_rate = fields.index("commission_rate") + 1
        return [*fields[:after_rate], "commission", *fields[after_rate:]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="commission", ordering="commission")
    def commission(self, recharge):
        return recharge.commission

    def save_model(self, request, obj, form, change):
        # Every field is read-only: saving the row it read would undo what the
        # delivery worker wrote meanwhile (a claim's topup_requested_at: the
        # top-up would be sent twice). Only resolve_recharge changes a recharge.
        obj.save(update_fields=form.changed_data)

    def get_search_results(self, request, queryset, search_term):
        # People type numbers as they please: 0912..., +98 912 ...
        with contextlib.suppress(InvalidPhoneNumber):
            search_term = to_e164(search_term)
        # A UUID as text is lower case; every other field is searched ignoring case.
        search_term = search_term.lower()
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="phone number", ordering="phone_number__e164")
    def phone(self, recharge):
        return recharge.phone_number.e164

    @admin.display(description="")
    def resolve(self, recharge):
        if recharge.status != Recharge.Status.PENDING:
            return ""
        return format_html('<a href="{}">Resolve…</a>', reverse("admin:recharges_recharge_resolve", args=[recharge.pk]))

    def get_urls(self):
        resolve = self.admin_site.admin_view(self.resolve_view)
        return [path("<int:recharge_id>/resolve/", resolve, name="recharges_recharge_resolve"), *super().get_urls()]

    @method_decorator(requires("recharges.change_recharge"))
    def resolve_view(self, request, recharge_id):
        recharge = get_object_or_404(Recharge.objects.select_related("seller", "phone_number"), pk=recharge_id)
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                resolve_recharge(
                    recharge_id=recharge.pk,
                    successful=form.cleaned_data["outcome"] == "successful",
                    operator_reference=form.cleaned_data["operator_reference"].strip(),
                    resolved_by=request.user,
                )
            except ApplicationError as error:
                self.message_user(request, f"Recharge #{recharge.pk} was not resolved: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"Recharge #{recharge.pk} resolved.", messages.SUCCESS)
            return redirect("admin:recharges_recharge_change", recharge.pk)
        context = {
            **self.admin_site.each_context(request),
            "recharge": recharge,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/recharges/recharge/resolve.html", context)
