"""API plumbing shared by every app: strict money fields, authentication,
permissions, pagination and the error body's schema."""

from hmac import compare_digest

import knox.auth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions, pagination, permissions, serializers

from config.throttling import count_auth_failure

MAX_AMOUNT = 10**15


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


class TokenAuthentication(knox.auth.TokenAuthentication):
    """`Authorization: Token <key>` against hashed, expiring tokens (knox).

    One query finds the token, its user and the user's seller. Expired tokens
    are refused but not deleted here: no write on the request path.
    """

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            count_auth_failure(request)
            raise

    def authenticate_credentials(self, token):
        token = token.decode("utf-8", errors="replace")
        candidates = AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related(
            "user", "user__seller"
        )
        for auth_token in candidates:
            if compare_digest(hash_token(token), auth_token.digest):
                if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                    break
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(_("Invalid token."))


def seller_of(user):
    """The user's Seller, or None for staff and other users."""
    return getattr(user, "seller", None)


class IsSeller(permissions.BasePermission):
    message = "This endpoint is for sellers."

    def has_permission(self, request, view):
        return bool(request.user and not request.user.is_staff and seller_of(request.user) is not None)


class IsStaff(permissions.BasePermission):
    message = "This endpoint is for staff."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff)


class IsSellerOrStaff(permissions.BasePermission):
    message = "This endpoint is for sellers and staff."

    def has_permission(self, request, view):
        return IsSeller().has_permission(request, view) or IsStaff().has_permission(request, view)


class NewestFirstPagination(pagination.CursorPagination):
    """Cursor pages: a page costs the same on ten rows or ten million."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None


class LedgerPagination(NewestFirstPagination):
    ordering = "-sequence"


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
