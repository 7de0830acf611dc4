"""Codes an authenticator app would show, computed from a device's key (django_otp.oath.totp)."""

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def code_for(device: TOTPDevice, ahead: int = 0) -> str:
    """The device's current code; `ahead` time steps later (the device accepts
    the next step's code too), for a second login within one 30 s window."""
    device.refresh_from_db()
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + ahead)
    return f"{value:0{device.digits}d}"


def give_authenticator(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
