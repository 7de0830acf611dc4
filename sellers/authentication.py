"""Token authentication for the API: it finds the token, its user and the
user's seller in one query, so it belongs to the sellers app, not to the
plumbing in config/ (which must import no domain app)."""

import ipaddress

import knox.auth
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework import exceptions

from config.errors import ApplicationError
from config.throttling import client_address, count_auth_failure
from sellers.models import Seller
from sellers.signals import api_token_refused


class AddressNotAllowed(ApplicationError, exceptions.APIException):
    """Raised when a seller's API token arrives from an address outside the
    seller's allowed networks. Also an APIException, so that DRF's
    authentication treats it as a refusal (the request stays anonymous)."""

    status_code = 403
    code = "address_not_allowed"
    message = "This API token may not be used from this address; nothing was written."


class TokenAuthentication(knox.auth.TokenAuthentication):
    """`Authorization: Token <key>` against hashed, expiring tokens (knox).

    One indexed query (by the token's SHA-512 digest) finds the token, its user
    and the user's seller; it is raw SQL because compiling the equivalent ORM
    query cost more than the recharge itself. Expired tokens are refused but
    not deleted here: no write on the request path. A valid sale checks the
    same rules in SQL instead (ledger migration 0004, tests/recharges/test_sale_path.py).
    """

    def authenticate(self, request):
        try:
            result = super().authenticate(request)
        except exceptions.AuthenticationFailed:
            count_auth_failure(request)
            raise
        seller = getattr(result[0], "seller", None) if result else None
        if seller is not None and seller.allowed_networks:
            _check_address(request, seller)
        return result

    def authenticate_credentials(self, token):
        digest = hash_token(token.decode("utf-8", errors="replace"))
        with connection.cursor() as cursor:
            cursor.execute(_AUTH_SQL, [digest])
            row = cursor.fetchone()
        if row is None or row[0]:  # no such token, or expired
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = User.from_db("default", _USER_FIELDS, row[1:6])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        seller = Seller.from_db("default", _SELLER_FIELDS, row[6:]) if row[6] is not None else None
        # Later `user.seller` reads (permissions, views) then cost no query.
        user._state.fields_cache["seller"] = seller
        if seller is not None:
            seller._state.fields_cache["user"] = user
        return user, digest


def _check_address(request, seller: Seller) -> None:
    """Refuses the token from an address outside the seller's networks; the
    refusal is announced (the audit trail records it: no row changes)."""
    address = client_address(request)
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # a dual-stack listener's form of an IPv4 client
    if ip is None or not any(ip in ipaddress.ip_network(network) for network in seller.allowed_networks):
        api_token_refused.send(
            sender=Seller,
            seller_id=seller.pk,
            user_id=seller.user_id,
            address=address if ip else None,
            path=request.path,
        )
        raise AddressNotAllowed()


User = get_user_model()
# Model.from_db takes partial rows in the models' own field order; the rest is deferred.
# Expiry is judged by the database's clock, as the fast sale path's SQL does.
_USER_FIELDS = ["id", "is_superuser", "username", "is_staff", "is_active"]
_SELLER_FIELDS = ["id", "user_id", "name", "balance", "allowed_networks"]
_AUTH_SQL = f"""
    SELECT t.expiry < statement_timestamp(), u.id, u.is_superuser, u.username, u.is_staff, u.is_active, s.id, s.user_id, s.name, s.balance, s.allowed_networks::text[]
      FROM {AuthToken._meta.db_table} t
      JOIN {User._meta.db_table} u ON u.id = t.user_id
      LEFT JOIN {Seller._meta.db_table} s ON s.user_id = u.id
     WHERE t.digest = %s
"""  # noqa: S608 - table names come from the models; the digest is a parameter
