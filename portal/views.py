"""The seller portal's pages: thin views over the services and selectors.

Every page but login needs a seller (`seller_required`); a seller only ever
reads through selectors scoped to their own seller id, so another seller's
object is a 404 like in the API.
"""

import csv
import json
from functools import wraps

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from callbacks.selectors import get_callback_endpoint
from callbacks.services import delete_callback, set_callback_url
from config import two_factor
from config.charts import Series, bar_chart
from config.dates import month_first
from config.errors import ApplicationError, InvalidInput
from credits.errors import ReceiptAlreadyUsed
from credits.selectors import get_credit_request, receipt_response
from credits.services import request_credit
from idempotency.services import request_hash
from portal import catalogue, forms, refusals, selectors
from recharges.errors import OperatorRefusal
from recharges.phone_numbers import national_display
from recharges.selectors import display_name, operator_list, operator_names
from recharges.services import sell_recharge
from sellers.services import rotate_api_token


def seller_required(view):
    """Anonymous visitors go to the login page; staff and other non-seller
    users get a 403 page (staff work in the admin)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url="portal:login")
        if not forms.is_seller_user(request.user):
            return render(request, "portal/forbidden.html", status=403)
        if two_factor.code_pending(request.user):
            return _code_page(request.get_full_path())
        return view(request, request.user.seller, *args, **kwargs)

    wrapper.seller_only = True  # type: ignore[attr-defined]  # read by the permission matrix test
    return never_cache(wrapper)


def landing(request):
    return render(request, "portal/landing.html")


def _code_page(following: str):
    return redirect(f"{reverse('portal:login_code')}?{urlencode({'next': following})}")


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = forms.PortalLoginForm
    next_page = "portal:dashboard"

    def get_success_url(self):
        # A seller who turned two-factor sign-in on types a code before any page.
        following = super().get_success_url()
        return _code_page(following).url if two_factor.code_pending(self.request.user) else following


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request):
    """The second step of a seller's login (only for those with an authenticator)."""
    if not forms.is_seller_user(request.user):
        return redirect("portal:login")
    following = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(following, {request.get_host()}, request.is_secure()):
        following = ""
    if not two_factor.code_pending(request.user):
        return redirect(following or "portal:dashboard")
    error = ""
    if request.method == "POST":
        try:
            two_factor.verify(request, request.POST.get("code", ""))
        except two_factor.CodeRefused as refusal:
            error = refusal.message
        else:
            return redirect(following or "portal:dashboard")
    return render(request, "portal/login_code.html", {"next": following, "error": error}, status=400 if error else 200)


@seller_required
@require_http_methods(["GET", "POST"])
def two_factor_settings(request, seller):
    """A seller turns two-factor sign-in on (enrols an authenticator app) or off (with a current code)."""
    context: dict = {"seller": seller, "enrolled": two_factor.has_device(request.user), "error": ""}
    if request.method == "POST":
        try:
            if context["enrolled"]:
                two_factor.turn_off(request, request.POST.get("code", ""))
                messages.success(request, _("Two-factor sign-in is off."))
                return redirect("portal:two_factor")
            context["codes"] = two_factor.confirm_enrolment(request, request.POST.get("code", ""))
            return render(request, "portal/two_factor.html", {**context, "enrolled": True})
        except two_factor.CodeRefused as refusal:
            context["error"] = refusal.message
    if not context["enrolled"]:
        device = two_factor.pending_device(request.user)
        context.update(uri=device.config_url, qr=two_factor.qr_svg(device.config_url))
    return render(request, "portal/two_factor.html", context, status=400 if context["error"] else 200)


class LogoutView(auth_views.LogoutView):
    next_page = "portal:login"


@seller_required
def dashboard(request, seller):
    today = selectors.business_today()
    days = selectors.daily_sales(seller_id=seller.pk, today=today)
    month = month_first(today, jalali=get_language() == "fa")
    sales = Series(
        _("sales"), [amount for _day, _count, amount in days], counts=[count for _day, count, _amount in days]
    )
    context = {
        "seller": seller,
        "today": selectors.sales_since(seller_id=seller.pk, since=selectors.day_start(today)),
        "commission": selectors.commission_earned(seller_id=seller.pk, today=today, month_first=month),
        "month": month,
        "chart": bar_chart([day for day, _count, _amount in days], [sales], rtl=get_language_bidi()),
        "chart_total": sum(sales.values),
    }
    return render(request, "portal/dashboard.html", context)


def _filters(form_class, request):
    """The bound filter form and its cleaned values (None when invalid: the page shows the form's errors)."""
    form = form_class(request.GET)
    return form, (form.cleaned_data if form.is_valid() else None)


def _cursor(request) -> dict:
    cursor = forms.PageCursorForm(request.GET)
    return cursor.cleaned_data if cursor.is_valid() else {"before": None, "after": None}


@seller_required
def statement(request, seller):
    form, filters = _filters(forms.StatementFilterForm, request)
    page = None
    if filters is not None:
        entries = selectors.statement_entries(seller_id=seller.pk, **filters)
        page = selectors.keyset_page(entries, key="sequence", **_cursor(request))
    return render(request, "portal/statement.html", {"seller": seller, "form": form, "page": page})


class _Echo:
    def write(self, value):
        return value


@seller_required
def statement_csv(request, seller):
    form, filters = _filters(forms.StatementFilterForm, request)
    if filters is None:
        return render(request, "portal/statement.html", {"seller": seller, "form": form}, status=400)
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    rows = selectors.statement_csv_rows(selectors.statement_entries(seller_id=seller.pk, **filters))
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="statement-{seller.pk}.csv"'
    return response


@seller_required
@require_http_methods(["GET", "POST"])
def recharges(request, seller):
    operators = operator_list()
    products = selectors.sale_products()
    if request.method == "POST":
        sale = forms.SaleForm(request.POST, operators=operators, products=products)
        if sale.is_valid() and _sell(request, seller, sale, products):
            return redirect("portal:recharges")
    else:
        sale = forms.SaleForm(
            initial={"idempotency_key": forms.new_idempotency_key()}, operators=operators, products=products
        )
    form, filters = _filters(forms.RechargeFilterForm, request)
    page = None
    if filters is not None:
        page = selectors.keyset_page(
            selectors.seller_recharges(seller_id=seller.pk, **filters), key="id", **_cursor(request)
        )
    context = {
        "seller": seller,
        "form": form,
        "sale": sale,
        "page": page,
        "catalogue": catalogue.sale_catalogue(operators=operators, products=products),
        "operator_names": operator_names(),
        "product_names": {product.code: display_name(product) for product in products},
    }
    return render(request, "portal/recharges.html", context, status=400 if sale.errors else 200)


def _sell(request, seller, sale, products) -> bool:
    """Sells through the API's own service with the form's Idempotency-Key and
    tells the outcome as a message (the page after the redirect shows it).
    False when the operator refused the input: the form then shows why."""
    data = sale.cleaned_data
    body = {
        "phone_number": data["phone_number"],
        "amount": data["amount"],
        "operator": data["operator"] or None,
        "product": data["product"] or None,
    }
    try:
        result = sell_recharge(
            seller_id=seller.pk,
            phone_number=body["phone_number"],
            amount=body["amount"],
            operator=body["operator"],
            product=body["product"],
            idempotency_key=data["idempotency_key"],
            request_hash=request_hash(body),
        )
    except OperatorRefusal as refusal:
        names = {product.code: display_name(product) for product in products}
        _form_errors(
            sale, refusals.operator_refusal_errors(refusal.refusal, operators=operator_names(), products=names)
        )
        return False
    except InvalidInput as error:
        _form_errors(sale, error.details or {})
        return False
    except ApplicationError as error:
        messages.error(request, refusals.error_message(error), extra_tags=error.code)
        return True
    sold = json.loads(result.body)
    if result.status_code == 201:
        # The number isolated left to right: on a Persian page its groups would else be drawn in reverse.
        phone = format_html('<bdi dir="ltr">{}</bdi>', national_display(sold["phone_number"]))
        sentence = conditional_escape(_("Recharge #%(id)s sold to %(phone)s."))
        messages.success(request, mark_safe(sentence % {"id": sold["id"], "phone": phone}))  # noqa: S308 - escaped
    else:
        messages.error(request, refusals.refusal_message(sold["error"]), extra_tags=sold["error"]["code"])
    return True


def _form_errors(form, details: dict) -> None:
    """A service's per-field refusal shown on the form's fields (or above it)."""
    for field, problems in details.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, str(problem))


@seller_required
def recharge_detail(request, seller, recharge_id):
    recharge = selectors.seller_recharge(seller_id=seller.pk, recharge_id=recharge_id)
    if recharge is None:
        return render(request, "portal/not_found.html", {"seller": seller}, status=404)
    context = {
        "seller": seller,
        "recharge": recharge.body,
        "refund_balance_after": recharge.refund_balance_after,
        "operator_names": operator_names(),
        "product_names": {product.code: display_name(product) for product in selectors.sale_products()},
    }
    return render(request, "portal/recharge_detail.html", context)


@seller_required
@require_http_methods(["GET", "POST"])
def credit_requests(request, seller):
    if request.method == "POST":
        ask = forms.CreditRequestForm(request.POST, request.FILES)
        if ask.is_valid():
            try:
                credit_request = request_credit(seller_id=seller.pk, **_given(ask.cleaned_data))
            except ReceiptAlreadyUsed:
                ask.add_error("tracking_number", _("This tracking number is already on a pending or approved request."))
            except InvalidInput as error:
                _form_errors(ask, error.details or {})
            else:
                messages.success(
                    request, _("Top-up request #%(id)s sent; staff will review it.") % {"id": credit_request.pk}
                )
                return redirect("portal:credit_requests")
    else:
        ask = forms.CreditRequestForm()
    form, filters = _filters(forms.CreditRequestFilterForm, request)
    page = None
    if filters is not None:
        requests = selectors.seller_credit_requests(seller_id=seller.pk, **filters)
        page = selectors.keyset_page(requests, key="id", **_cursor(request))
    context = {"seller": seller, "form": form, "ask": ask, "page": page}
    return render(request, "portal/credit_requests.html", context, status=400 if ask.errors else 200)


def _given(cleaned: dict) -> dict:
    """The form's fields the seller filled (request_credit's defaults stand for the rest)."""
    return {name: value for name, value in cleaned.items() if value not in ("", None)}


@seller_required
@require_http_methods(["GET"])
def credit_request_receipt(request, seller, credit_request_id):
    """A receipt the seller attached, to that seller only (the files are not under the web root)."""
    credit_request = get_credit_request(credit_request_id=credit_request_id, seller_id=seller.pk)
    if not credit_request.receipt:
        raise Http404
    return receipt_response(credit_request)


@seller_required
def api_token(request, seller):
    return render(
        request, "portal/api_token.html", {"seller": seller, "tokens": selectors.api_tokens(user=request.user)}
    )


@seller_required
@require_POST
def rotate_token(request, seller):
    # Shown once, in this response only (no redirect: the key is not stored anywhere readable).
    key = rotate_api_token(user=request.user)
    context = {"seller": seller, "tokens": selectors.api_tokens(user=request.user), "new_key": key}
    return render(request, "portal/api_token.html", context)


@seller_required
@require_http_methods(["GET", "POST"])
def callback(request, seller):
    """The seller's callback URL; setting it makes a new signing secret, shown once."""
    context = {"seller": seller}
    form = forms.CallbackForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            context["url"], context["new_secret"] = set_callback_url(seller_id=seller.pk, url=form.cleaned_data["url"])
        except InvalidInput as error:
            _form_errors(form, error.details or {})
        else:
            form = forms.CallbackForm()
    if "url" not in context:
        try:
            context["url"] = get_callback_endpoint(seller_id=seller.pk).url
        except Http404:
            context["url"] = None
    context["form"] = form
    return render(request, "portal/callback.html", context, status=400 if form.errors else 200)


@seller_required
@require_POST
def remove_callback(request, seller):
    delete_callback(seller_id=seller.pk)
    messages.success(request, _("Callback URL removed."))
    return redirect("portal:callback")
