"""API plumbing shared by every app: strict money fields, the token header,
permissions, pagination and the error body's schema. It imports no domain app:
the token authentication, which also loads the caller's seller, lives in
`sellers.authentication`."""

import re

from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from rest_framework import authentication, exceptions, negotiation, pagination, parsers, permissions, serializers

from config.constants import MAX_AMOUNT


class StrictIntegerField(serializers.IntegerField):
    """An integer that must arrive as a JSON integer: DRF's own field would
    take "5000", 5000.0 and true."""

    default_error_messages = {"invalid": _("A JSON integer is required.")}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string that must arrive as a JSON string: DRF's own field would take
    5 and 5.0 and turn them into "5" and "5.0"."""

    default_error_messages = {"invalid": _("A JSON string is required.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def amount_field(**kwargs) -> StrictIntegerField:
    """A money amount in rials, 1 to 10^15."""
    return StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, **kwargs)


def token_digest(request) -> str | None:
    """The digest of the request's `Authorization: Token <key>`, None without
    one. For the fast sale path, which finds the token's seller in its own
    statement and leaves every refusal to TokenAuthentication."""
    header = authentication.get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() != b"token":
        return None
    return hash_token(header[1].decode("utf-8", errors="replace"))


def seller_of(user):
    """The user's Seller, or None for staff and other users."""
    return getattr(user, "seller", None)


class IsSeller(permissions.BasePermission):
    message = "This endpoint is for sellers."

    def has_permission(self, request, view):
        return bool(request.user and not request.user.is_staff and seller_of(request.user) is not None)


def staff_with(permission: str) -> type[permissions.BasePermission]:
    """Staff holding this Django permission ("app_label.codename"), directly
    or through a group; superusers hold every one. The admin refuses staff
    without it, and so does the API (docs/permissions.md lists them)."""

    class StaffWithPermission(permissions.BasePermission):
        message = f"This endpoint is for staff with the permission {permission}."
        required_permission = permission

        def has_permission(self, request, view):
            return bool(request.user and request.user.is_staff and request.user.has_perm(permission))

    return StaffWithPermission


def seller_or_staff_with(permission: str) -> type[permissions.BasePermission]:
    """A seller (for their own objects), or staff holding `permission`."""
    staff = staff_with(permission)

    class SellerOrStaffWithPermission(permissions.BasePermission):
        message = f"This endpoint is for sellers, and for staff with the permission {permission}."
        required_permission = permission

        def has_permission(self, request, view):
            return IsSeller().has_permission(request, view) or staff().has_permission(request, view)

    return SellerOrStaffWithPermission


class NewestFirstPagination(pagination.CursorPagination):
    """Cursor pages: a page costs the same on ten rows or ten million."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
        else:
            # DRF trusts the position inside the (client-held) cursor; ours are ids.
            if cursor is None or cursor.position is None or re.fullmatch(r"-?[0-9]{1,19}", str(cursor.position)):
                return cursor
        raise exceptions.ValidationError({"cursor": ["Invalid cursor."]})


class LedgerPagination(NewestFirstPagination):
    ordering = "-sequence"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; JSON nested too deeply for Python is malformed too."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class JSONOnlyNegotiation(negotiation.DefaultContentNegotiation):
    """Every body is JSON (the contract): an Accept header or ?format= never
    turns a request into a 406, and both sale paths answer alike."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx/5xx response."""

    error = ErrorDetailSerializer()


def validated(serializer_class, data, **context) -> dict:
    """Runs an input serializer; invalid input raises the 400 validation_error."""
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
