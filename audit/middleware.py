import ipaddress

import pghistory.middleware

from config.throttling import client_address


class AuditContextMiddleware(pghistory.middleware.HistoryMiddleware):
    """django-pghistory's middleware: every write of a POST, PUT, PATCH or
    DELETE carries the user (updated when DRF authenticates the token), the
    path and the client's address (behind TRUSTED_PROXIES, as the throttles
    see it) to PostgreSQL, where the audit triggers read them. SELECTs carry
    nothing, so the sale's one statement pays nothing for it."""

    def get_context(self, request):
        return {**super().get_context(request), "address": _address(request)}


def _address(request) -> str | None:
    """The client's address, or None if it is no address (the trigger casts it to inet)."""
    address = client_address(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
