from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_display import money, number
from config.errors import ApplicationError
from config.formats import rials
from config.permissions import requires
from credits import selectors, services
from credits.banks import bank_name
from credits.errors import AlreadyDecided, ReceiptAlreadyUsed
from credits.models import DECIDE_CREDIT_REQUESTS, VIEW_CREDIT_REQUESTS, CreditRequest
from ledger.errors import BalanceLimitExceeded, SecondApproverRequired

# Why a decision was refused, in the page's language (the errors' own messages are the API's English).
REFUSALS = {
    AlreadyDecided: _("it was already decided the other way."),
    BalanceLimitExceeded: _("the seller's balance would pass the largest amount the ledger holds."),
    SecondApproverRequired: _("a second, different staff member must approve it (four eyes)."),
    ReceiptAlreadyUsed: _("its bank tracking number already funded an approved request."),
}
# Requests a staff member may still approve or reject.
UNDECIDED = [CreditRequest.Status.PENDING, CreditRequest.Status.AWAITING_SECOND_APPROVAL]


@dataclass(frozen=True)
class Decision:
    """What approving or rejecting says and does, for the list's action and the page's button alike."""

    decide: Callable[..., CreditRequest]
    button: Promise
    confirm: Promise
    question: Promise
    done: Promise
    # Four eyes: what a first approval says (it credits nothing yet).
    first: Promise
    refused: Promise
    counted: Promise


APPROVE = Decision(
    decide=services.approve_credit_request,
    button=_("Approve"),
    confirm=_("Yes, approve"),
    question=_("Approve %(request)s?"),
    done=_("Top-up request #%(id)s approved: %(amount)s credited to %(seller)s."),
    first=_("Top-up request #%(id)s approved once: nothing credited yet; a second staff member must approve it."),
    refused=_("Top-up request #%(id)s was not approved: %(reason)s"),
    counted=_(
        "%(done)s approved, %(waiting)s awaiting a second approval, %(refused)s refused, %(skipped)s already decided."
    ),
)
REJECT = Decision(
    decide=services.reject_credit_request,
    button=_("Reject"),
    confirm=_("Yes, reject"),
    question=_("Reject %(request)s?"),
    done=_("Top-up request #%(id)s rejected: nothing credited to %(seller)s."),
    first=_("Top-up request #%(id)s rejected: nothing credited to %(seller)s."),
    refused=_("Top-up request #%(id)s was not rejected: %(reason)s"),
    counted=_("%(done)s rejected, %(refused)s refused, %(skipped)s already decided."),
)


@admin.register(CreditRequest)
class CreditRequestAdmin(admin.ModelAdmin):
    list_display = [
        number,
        "seller_display",
        "amount_display",
        "evidence_display",
        "status",
        "created_at",
        "decided_at",
        "decided_by",
    ]
    list_filter = ["status"]
    list_select_related = ["seller", "decided_by"]
    search_fields = ["seller__name", "seller__user__username"]
    raw_id_fields = ["seller"]
    actions = ["approve_selected", "reject_selected"]

    def get_fields(self, request, obj=None):
        # A new request has no status, dates or decider to show yet (created_at would show its DatabaseDefault).
        if obj is None:
            return ["seller", "amount"]
        return [
            "seller",
            "amount_display",
            "status",
            "created_at",
            "decided_at",
            "decided_by",
            "first_approved_by",
            "first_approved_at",
            "bank_display",
            "tracking_number",
            "transferred_on",
            "receipt_link",
        ]

    @admin.display(description=_("evidence"))
    def evidence_display(self, credit_request):
        # Flagged to staff: a request with no tracking number asks them to check the bank by hand.
        if not credit_request.tracking_number:
            return gettext("None given")
        return f"{bank_name(credit_request.bank) or '-'} {credit_request.tracking_number}"

    @admin.display(description=_("bank"))
    def bank_display(self, credit_request):
        return bank_name(credit_request.bank) or "-"

    @admin.display(description=_("receipt"))
    def receipt_link(self, credit_request):
        if not credit_request.receipt:
            return gettext("None given")
        url = reverse("admin:credits_creditrequest_receipt", args=[credit_request.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, gettext("Open the receipt"))

    @admin.display(description=_("seller"), ordering="seller__name")
    def seller_display(self, credit_request):
        return f"{credit_request.seller.name} (#{credit_request.seller_id})"

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, credit_request):
        return money(credit_request.amount)

    def save_model(self, request, obj, form, change):
        obj.pk = services.request_credit(seller_id=obj.seller_id, amount=obj.amount).pk

    def has_change_permission(self, request, obj=None):
        # A request is never edited: its page only shows it (no Save), and it
        # changes only by approve or reject, which need their own permission.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request):
        # The permission the API's approve and reject endpoints check (docs/permissions.md).
        return request.user.has_perm(DECIDE_CREDIT_REQUESTS)

    @admin.action(description=_("Approve selected credit requests"), permissions=["decide"])
    def approve_selected(self, request, queryset):
        self._decide_all(request, queryset, APPROVE)

    @admin.action(description=_("Reject selected credit requests"), permissions=["decide"])
    def reject_selected(self, request, queryset):
        self._decide_all(request, queryset, REJECT)

    def _decide_all(self, request, queryset, decision):
        # Each request as the page's button would decide it; each refusal with its reason.
        counts = {"done": 0, "waiting": 0, "refused": 0, "skipped": 0}
        for credit_request in queryset.select_related("seller").order_by("pk"):
            if credit_request.status not in UNDECIDED:
                counts["skipped"] += 1
                continue
            try:
                decided = decision.decide(credit_request_id=credit_request.pk, decided_by=request.user)
            except ApplicationError as error:
                counts["refused"] += 1
                self._refused(request, credit_request, decision, error)
            else:
                counts["waiting" if decided.status == CreditRequest.Status.AWAITING_SECOND_APPROVAL else "done"] += 1
        self.message_user(request, decision.counted % counts, messages.SUCCESS)

    def _refused(self, request, credit_request, decision, error):
        reason = REFUSALS.get(type(error), error.message)
        self.message_user(request, decision.refused % {**_about(credit_request), "reason": reason}, messages.ERROR)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The page's Approve and Reject buttons, for a pending request and a user who may decide.
        # Approve is not offered to whom four eyes refuse it (the seller's user, the first approver).
        pending = CreditRequest.objects.filter(pk=object_id, status__in=UNDECIDED).select_related("seller").first()
        can_decide = pending is not None and self.has_decide_permission(request)
        can_approve = pending is not None and can_decide and services.may_approve(pending, request.user)
        context = {**(extra_context or {}), "can_decide": can_decide, "can_approve": can_approve}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        approve = self.admin_site.admin_view(self.approve_view)
        reject = self.admin_site.admin_view(self.reject_view)
        receipt = self.admin_site.admin_view(self.receipt_view)
        return [
            path("<int:credit_request_id>/receipt/", receipt, name="credits_creditrequest_receipt"),
            path("<int:credit_request_id>/approve/", approve, name="credits_creditrequest_approve"),
            path("<int:credit_request_id>/reject/", reject, name="credits_creditrequest_reject"),
            *super().get_urls(),
        ]

    @method_decorator(requires(VIEW_CREDIT_REQUESTS))
    def receipt_view(self, request, credit_request_id):
        """The receipt file, as the API's receipt endpoint serves it (files are not under the web root)."""
        credit_request = get_object_or_404(CreditRequest, pk=credit_request_id)
        if not credit_request.receipt:
            raise Http404
        return selectors.receipt_response(credit_request)

    @method_decorator(requires(DECIDE_CREDIT_REQUESTS))
    def approve_view(self, request, credit_request_id):
        return self._decide_view(request, credit_request_id, APPROVE)

    @method_decorator(requires(DECIDE_CREDIT_REQUESTS))
    def reject_view(self, request, credit_request_id):
        return self._decide_view(request, credit_request_id, REJECT)

    def _decide_view(self, request, credit_request_id, decision):
        """The page's button asks first, on a page of its own; the answer's POST
        decides, once: a request decided meanwhile stays as it is."""
        credit_request = get_object_or_404(CreditRequest.objects.select_related("seller"), pk=credit_request_id)
        if credit_request.status not in UNDECIDED:
            message = gettext("Top-up request #%(id)s was already decided; nothing changed.")
            self.message_user(request, message % _about(credit_request), messages.WARNING)
        elif decision is APPROVE and not services.may_approve(credit_request, request.user):
            reason = REFUSALS[SecondApproverRequired]
            self.message_user(request, decision.refused % {**_about(credit_request), "reason": reason}, messages.ERROR)
        elif request.POST.get("confirmed") != "yes":
            return self._confirmation(request, credit_request, decision)
        else:
            self._decide_one(request, credit_request, decision)
        return redirect("admin:credits_creditrequest_change", credit_request.pk)

    def _decide_one(self, request, credit_request, decision):
        try:
            decided = decision.decide(credit_request_id=credit_request.pk, decided_by=request.user)
        except ApplicationError as error:
            self._refused(request, credit_request, decision, error)
        else:
            waits = decided.status == CreditRequest.Status.AWAITING_SECOND_APPROVAL
            self.message_user(
                request, (decision.first if waits else decision.done) % _about(credit_request), messages.SUCCESS
            )

    def _confirmation(self, request, credit_request, decision):
        seller = credit_request.seller
        if decision is APPROVE and services.first_of_two(credit_request):
            balances, outcome = (
                {},
                gettext("Nothing is credited to %(seller)s yet: a second staff member must approve."),
            )
        elif decision is APPROVE:
            balances = {"before": rials(seller.balance), "after": rials(seller.balance + credit_request.amount)}
            outcome = gettext("The balance of %(seller)s goes from %(before)s to %(after)s.")
        else:
            balances, outcome = {}, gettext("Nothing is credited to %(seller)s.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": decision.question % {"request": credit_request},
            "credit_request": credit_request,
            "decision": decision,
            "outcome": outcome % {"seller": seller.name, **balances},
        }
        return TemplateResponse(request, "admin/credits/creditrequest/decide.html", context)


def _about(credit_request) -> dict:
    return {"id": credit_request.pk, "amount": rials(credit_request.amount), "seller": credit_request.seller.name}
