"""Two-factor sign-in (django-otp): a TOTP authenticator app after the
password, and recovery codes for a lost phone.

Staff need it in the admin when settings.STAFF_TWO_FACTOR is "required"
(always in production); sellers turn it on for the portal themselves. The
password step stays Django's (so django-axes throttles it); the code step
is here. django-otp refuses a TOTP code already used (TOTPDevice.last_t),
deletes a recovery code once used, and throttles each device after a wrong
code (1, 2, 4, ... seconds, stored on the device, so every worker and every
session sees it). API tokens never pass through any of this.
"""

import base64

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.errors import InvalidInput
from config.formats import latin_digits

AUTHENTICATOR = "authenticator"
RECOVERY = "recovery codes"
RECOVERY_CODE_COUNT = 10
TOTP_DIGITS = 6


class CodeRefused(InvalidInput):
    """A wrong, replayed, used or throttled code; nothing was logged in."""


def staff_required() -> bool:
    return settings.STAFF_TWO_FACTOR == "required"


def has_device(user) -> bool:
    """A confirmed authenticator: from now on this user signs in with a code."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def _verified(user) -> bool:
    # OTPMiddleware gives request.user is_verified(); the user that login()
    # has just put on the request has none, and typed no code yet.
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def admin_allowed(user) -> bool:
    """The second factor the admin asks of this (password-authenticated) user is done."""
    if _verified(user):
        return True
    return not staff_required() and not has_device(user)


def code_pending(user) -> bool:
    """A portal user with an authenticator who has not typed its code in this session."""
    return user.is_authenticated and not _verified(user) and has_device(user)


def pending_device(user) -> TOTPDevice:
    """The authenticator being enrolled: the same key until its first code
    confirms it, so reloading the page does not invalidate a scanned QR code."""
    device, _created = TOTPDevice.objects.get_or_create(
        user=user, name=AUTHENTICATOR, confirmed=False, defaults={"digits": TOTP_DIGITS}
    )
    return device


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG image (a data: URI), drawn here: the
    key never leaves the server for a QR service."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _normal(code: str) -> str:
    return latin_digits(code or "").strip().replace(" ", "").replace("-", "").lower()


def _refusal(device, code: str) -> str:
    """Why the device refuses the code ("" if it accepts it). Returned, not
    raised: raising inside the transaction would roll back the failure count
    that throttles the next guess."""
    allowed, extra = device.verify_is_allowed()
    if not allowed:
        locked_until = (extra or {}).get("locked_until")
        seconds = max(1, int((locked_until - timezone.now()).total_seconds()) + 1) if locked_until else 1
        return _("Too many wrong codes. Wait %(seconds)s seconds and try again.") % {"seconds": seconds}
    if not device.verify_token(code):
        return _("That code is not valid, or was already used.")
    return ""


def _new_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def confirm_enrolment(request, code: str) -> list[str]:
    """The first code from the app confirms its authenticator: this session
    counts as verified, and the recovery codes (shown once) are returned."""
    user = request.user
    code = _normal(code)
    with transaction.atomic():
        if TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).exists():
            raise CodeRefused(_("You already have an authenticator."))
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise CodeRefused(_("Open the enrolment page again to get a new key."))
        refusal = _refusal(device, code)
        if not refusal:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _new_recovery_codes(user)
    if refusal:
        raise CodeRefused(refusal)
    otp_login(request, device)
    return codes


def verify(request, code: str) -> None:
    """Six digits are the authenticator's code; anything else is a recovery
    code. The device row is locked, so one code cannot pass twice at once."""
    user = request.user
    code = _normal(code)
    is_totp = len(code) == TOTP_DIGITS and code.isdigit()
    model = TOTPDevice if is_totp else StaticDevice
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=user, confirmed=True).first()
        refusal = _refusal(device, code) if device else _("That code is not valid, or was already used.")
    if refusal:
        raise CodeRefused(refusal)
    otp_login(request, device)


def turn_off(request, code: str) -> None:
    """A current code (or a recovery code) removes the authenticator and the recovery codes."""
    verify(request, code)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=request.user).delete()
        StaticDevice.objects.filter(user=request.user).delete()


def enrol_for_operator(user) -> tuple[TOTPDevice, list[str]]:
    """An operator's enrolment (manage.py enrol_staff_otp): a new confirmed
    authenticator replaces any other, with new recovery codes."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=True, digits=TOTP_DIGITS)
        return device, _new_recovery_codes(user)
