import uuid

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from callbacks.models import URL_MAX_LENGTH
from config import dates
from config.api import MAX_AMOUNT
from config.constants import FIRST_DAY, LAST_DAY
from credits import evidence
from credits.banks import BANKS, bank_name
from credits.models import CreditRequest
from ledger.models import LedgerEntry
from recharges.models import Recharge
from recharges.phone_numbers import InvalidPhoneNumber, to_e164
from recharges.selectors import display_name

PHONE_MAX_LENGTH = 32
# Labels people read; the stored values (and the API and CSV) stay as they are.
KIND_LABELS = {
    "credit": _("credit"),
    "recharge": _("recharge"),
    "adjustment": _("adjustment"),
    "refund": _("refund"),
    "commission": _("commission"),
}
DELIVERY_LABELS = {"pending": _("pending"), "successful": _("successful"), "failed": _("failed")}


def is_seller_user(user) -> bool:
    """A portal user: an active non-staff user with a seller account."""
    return user.is_authenticated and not user.is_staff and hasattr(user, "seller")


class PortalLoginForm(AuthenticationForm):
    """Django's login form (it calls authenticate() with the request, so the
    login-failure lockout covers it); staff and users without a seller are refused."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_seller": _("This account is not a seller account. Staff use the admin."),
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not is_seller_user(user):
            raise forms.ValidationError(self.error_messages["not_seller"], code="not_seller")


class PhoneNumberField(forms.CharField):
    """An Iranian mobile number in any common form, cleaned to E.164."""

    def __init__(self, **kwargs):
        super().__init__(max_length=PHONE_MAX_LENGTH, **kwargs)
        self.widget.attrs["dir"] = "ltr"  # "0912 123 4567" keeps its order on Persian pages

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        try:
            return to_e164(value)
        except InvalidPhoneNumber:
            raise forms.ValidationError(_("Enter an Iranian mobile number, e.g. 0912 123 4567.")) from None


def amount_field(**kwargs) -> forms.IntegerField:
    # A text box, not type=number: browsers drop Persian digits typed into a number box.
    # Digits read left to right on Persian pages too.
    widget = forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "dir": "ltr"})
    return forms.IntegerField(label=_("Amount (rials)"), min_value=1, max_value=MAX_AMOUNT, widget=widget, **kwargs)


def new_idempotency_key() -> str:
    return f"portal-{uuid.uuid4()}"


class SaleForm(forms.Form):
    """Airtime of an amount, or a data package (whose amount is the package's)."""

    phone_number = PhoneNumberField(label=_("Phone number"))
    # A ported number keeps its old prefix: the seller may name its operator.
    operator = forms.ChoiceField(label=_("Operator"), required=False)
    product = forms.ChoiceField(label=_("Package"), required=False)
    amount = amount_field(required=False)
    # Made when the form is rendered: a double click or a refresh sends the
    # same key again, and the sale replays instead of selling twice.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args, operators=(), products=(), **kwargs):
        super().__init__(*args, **kwargs)
        names = {operator.code: display_name(operator) for operator in operators if operator.enabled}
        operator_field = self.fields["operator"]
        product_field = self.fields["product"]
        assert isinstance(operator_field, forms.ChoiceField) and isinstance(product_field, forms.ChoiceField)
        operator_field.choices = [("", _("From the number")), *names.items()]
        # One group per operator (products come ordered by operator).
        groups: dict[str, list[tuple[str, str]]] = {}
        for product in products:
            label = _("%(name)s, %(amount)s rials") % {"name": display_name(product), "amount": f"{product.amount:,}"}
            groups.setdefault(names.get(product.operator_id, product.operator_id), []).append((product.code, label))
        product_field.choices = [("", _("None (airtime: enter an amount)")), *groups.items()]

    def clean_idempotency_key(self):
        key = self.cleaned_data["idempotency_key"]
        if not key.isascii() or not key.isprintable() or " " in key:
            raise forms.ValidationError(_("The form has expired; please submit it again."))
        return key

    def clean(self):
        cleaned = super().clean() or {}
        if "amount" in self.errors:
            return cleaned
        if cleaned.get("product") and cleaned.get("amount") is not None:
            self.add_error("amount", _("A package has its own amount: leave the amount empty."))
        elif not cleaned.get("product") and cleaned.get("amount") is None:
            self.add_error("amount", _("Enter an amount, or choose a package."))
        return cleaned


class CallbackForm(forms.Form):
    url = forms.CharField(label=_("Callback URL"), max_length=URL_MAX_LENGTH, widget=forms.URLInput)


class DayInput(forms.DateInput):
    """Under English the browser's date box (it sends ISO days); under Persian
    a text box for a Jalali day, 1405/09/16, with django-jalali-date's Jalali
    picker, served from this server like the admin's files."""

    def _jalali(self) -> bool:
        return dates.page_calendar() is dates.Jalali

    @property
    def media(self):
        if not self._jalali():
            return forms.Media()
        return forms.Media(
            css={"all": ["admin/css/django_jalali.min.css"]},
            js=["admin/js/django_jalali.min.js", "portal/jalali-picker.js"],
        )

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if self._jalali():
            context["widget"]["type"] = "text"
            # Typed left to right, as digits are, on the right-to-left page.
            context["widget"]["attrs"].update(
                {
                    "data-jdp": "",
                    "data-jdp-only-date": "",
                    "placeholder": "1405/09/16",
                    "dir": "ltr",
                    "autocomplete": "off",
                }
            )
        else:
            context["widget"]["type"] = "date"
        return context


class DayField(forms.DateField):
    """A business day typed in either calendar (config.dates.read_day: Jalali
    or ISO, Latin or Persian digits), from FIRST_DAY to LAST_DAY."""

    widget = DayInput

    def __init__(self, **kwargs):
        # ISO: LAST_DAY is past the last Jalali year jdatetime knows (9377).
        outside = format_lazy(_("Days run from {first} to {last}."), first=FIRST_DAY, last=LAST_DAY)
        validators = [MinValueValidator(FIRST_DAY, outside), MaxValueValidator(LAST_DAY, outside)]
        super().__init__(validators=validators, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return dates.read_day(str(value))
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class DateRangeForm(forms.Form):
    date_from = DayField(label=_("From"), required=False)
    date_to = DayField(label=_("To"), required=False)

    def clean(self):
        cleaned = super().clean() or {}
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        return cleaned


class StatementFilterForm(DateRangeForm):
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All"))] + [(kind, KIND_LABELS.get(kind, kind)) for kind in LedgerEntry.Kind.values],
    )


class RechargeFilterForm(DateRangeForm):
    phone_number = PhoneNumberField(label=_("Phone number"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All"))] + [(s, DELIVERY_LABELS[s]) for s in Recharge.Status.values],
    )


class CreditRequestForm(forms.Form):
    """A top-up request with the transfer's evidence (credits.evidence's rules,
    as the API reads them); the evidence is optional unless a setting says so."""

    amount = amount_field()
    bank = forms.ChoiceField(label=_("Bank"), required=False)
    tracking_number = forms.CharField(
        label=_("Bank tracking number"),
        required=False,
        widget=forms.TextInput(attrs={"dir": "ltr", "autocomplete": "off"}),
    )
    transferred_on = DayField(label=_("Transfer date"), required=False)
    receipt = forms.FileField(
        label=_("Receipt (PNG, JPEG or PDF, at most 5 MB)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,application/pdf"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bank_field = self.fields["bank"]
        assert isinstance(bank_field, forms.ChoiceField)
        bank_field.choices = [("", "-"), *((bank.code, bank_name(bank.code)) for bank in BANKS)]
        for name in evidence.REQUIRED_FIELDS:
            self.fields[name].required = evidence.evidence_required()

    def clean_tracking_number(self):
        value = self.cleaned_data["tracking_number"]
        return _evidence(evidence.clean_tracking_number, value) if value else value

    def clean_receipt(self):
        receipt = self.cleaned_data["receipt"]
        return _evidence(evidence.clean_receipt, receipt) if receipt else receipt


def _evidence(clean, value):
    try:
        return clean(value)
    except evidence.InvalidEvidence as error:
        raise forms.ValidationError(str(error)) from None


class CreditRequestFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), *CreditRequest.Status.choices],
    )


class PageCursorForm(forms.Form):
    before = forms.IntegerField(required=False, min_value=1)
    after = forms.IntegerField(required=False, min_value=0)
