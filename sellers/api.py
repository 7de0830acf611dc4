from collections.abc import Mapping

from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    MAX_AMOUNT,
    IsSeller,
    NewestFirstPagination,
    StrictCharField,
    StrictIntegerField,
    staff_with,
    validated,
)
from config.openapi import errors
from config.routers import listing_on_replica
from idempotency.api import IDEMPOTENCY_KEY_PARAMETER, idempotency_key, replay_headers
from idempotency.services import request_hash, run_idempotent
from sellers import selectors, services


class SellerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    balance = serializers.IntegerField()


# Money in JSON is 1 to 10^15 (the contract), a daily total and a threshold
# too: the admin's seller form holds them to the same bound, so a value set
# here never makes that page refuse to save. A count is an integer column.
MAX_COUNT = 2**31 - 1


class ClosedSerializer(serializers.Serializer):
    """Refuses keys it does not name (400), with the field errors if any: a
    PUT replaces the whole set, so a misspelt key must not quietly clear
    the setting it meant."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            names = ", ".join(self.fields)
            unknown = {key: [f"Unknown field; the fields are {names}."] for key in data if key not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if isinstance(error.detail, dict):
                error.detail.update(unknown)
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class LimitsSerializer(serializers.Serializer):
    """A seller's limits; null is no limit."""

    max_recharge_amount = serializers.IntegerField(allow_null=True, help_text="The largest single recharge, rials.")
    daily_amount = serializers.IntegerField(
        allow_null=True,
        help_text="The most one business day's recharges (failed ones excepted) may total, rials.",
    )
    number_hourly_count = serializers.IntegerField(
        allow_null=True, help_text="The most recharges to one phone number in any 60 minutes (failed ones excepted)."
    )


class LimitsInputSerializer(ClosedSerializer):
    """The whole set: a key left out becomes null (no limit); unknown keys are refused."""

    max_recharge_amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, allow_null=True, default=None)
    daily_amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, allow_null=True, default=None)
    number_hourly_count = StrictIntegerField(min_value=1, max_value=MAX_COUNT, allow_null=True, default=None)


class MeOutputSerializer(SellerOutputSerializer):
    limits = LimitsSerializer(source="*")
    daily_amount_used = serializers.IntegerField(
        source="used_today",
        help_text="What today's recharges (business day, failed ones excepted) count against limits.daily_amount.",
    )


class MeView(APIView):
    permission_classes = [IsSeller]

    @extend_schema(responses={200: MeOutputSerializer, **errors(401, 403)})
    def get(self, request):
        return Response(MeOutputSerializer(selectors.get_seller_account(seller_id=request.user.seller.pk)).data)


class AlertsSerializer(serializers.Serializer):
    low_balance = serializers.IntegerField(
        allow_null=True, help_text="A debit taking the balance below it sends a balance.low event; null: no alert."
    )


class AlertsInputSerializer(ClosedSerializer):
    """A key left out is null (no alert), as in every PUT of a whole set."""

    low_balance = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, allow_null=True, default=None)


class AlertsView(APIView):
    permission_classes = [IsSeller]

    @extend_schema(responses={200: AlertsSerializer, **errors(401, 403)})
    def get(self, request):
        seller = selectors.get_seller(seller_id=request.user.seller.pk)
        return Response(AlertsSerializer({"low_balance": seller.low_balance_threshold}).data)

    @extend_schema(
        request=AlertsInputSerializer,
        responses={200: AlertsSerializer, **errors(400, 401, 403)},
        examples=[OpenApiExample("Alert below 1,000,000 rials", value={"low_balance": 1000000})],
        description=(
            "When a debit takes the balance from at or above `low_balance` to below it, the callback URL "
            "receives a `balance.low` event (once per crossing). null turns the alert off."
        ),
    )
    def put(self, request):
        data = validated(AlertsInputSerializer, request.data)
        services.set_low_balance_alert(seller_id=request.user.seller.pk, **data)
        return Response(AlertsSerializer(data).data)


class SellerListCreateView(generics.ListAPIView):
    # Listing needs sellers.view_seller, creating sellers.add_seller (docs/permissions.md).
    serializer_class = SellerOutputSerializer
    pagination_class = NewestFirstPagination

    class SellerCreateInputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)
        # Taken usernames (also ignoring case and width) are refused by the
        # database's unique indexes, through services.create_seller.
        username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])

    class SellerCreatedSerializer(SellerOutputSerializer):
        api_token = serializers.CharField()

    def get_permissions(self):
        return [staff_with("sellers.add_seller" if self.request.method == "POST" else "sellers.view_seller")()]

    def get_queryset(self):
        return selectors.seller_list()

    @extend_schema(responses={200: SellerOutputSerializer(many=True), **errors(400, 401, 403)})
    @listing_on_replica()
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=SellerCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: SellerCreatedSerializer, **errors(400, 401, 403, 422)},
        description=(
            "The API token is shown once: a client that lost the 201 repeats the POST with the same "
            "Idempotency-Key and gets the same body, token included (kept with the key until it is purged)."
        ),
    )
    def post(self, request):
        data = validated(self.SellerCreateInputSerializer, request.data)

        def create():
            seller, token = services.create_seller(**data)
            return status.HTTP_201_CREATED, {**SellerOutputSerializer(seller).data, "api_token": token}

        key = idempotency_key(request)
        if key is None:
            code, body = create()
            return Response(body, status=code)
        # No seller exists yet: the key is the staff user's own.
        code, body, replayed = run_idempotent(
            seller_id=None,
            staff_user_id=request.user.pk,
            key=key,
            endpoint="sellers",
            request_hash=request_hash(request.data),
            action=create,
        )
        return Response(body, status=code, headers=replay_headers(replayed))


class SellerDetailView(APIView):
    permission_classes = [staff_with("sellers.view_seller")]

    @extend_schema(responses={200: SellerOutputSerializer, **errors(401, 403, 404)})
    def get(self, request, seller_id):
        return Response(SellerOutputSerializer(selectors.get_seller(seller_id=seller_id)).data)


class SellerLimitsView(APIView):
    """Limits a sale is held to: 403 limit_exceeded past any of them."""

    def get_permissions(self):
        return [staff_with("sellers.change_seller" if self.request.method == "PUT" else "sellers.view_seller")()]

    @extend_schema(responses={200: LimitsSerializer, **errors(401, 403, 404)})
    def get(self, request, seller_id):
        return Response(LimitsSerializer(selectors.get_seller(seller_id=seller_id)).data)

    @extend_schema(
        request=LimitsInputSerializer,
        responses={200: LimitsSerializer, **errors(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "At most 500,000 rials a recharge and 20,000,000 a day",
                value={"max_recharge_amount": 500000, "daily_amount": 20000000, "number_hourly_count": None},
            )
        ],
        description="Replaces the whole set: a key left out becomes null (no limit). The next sale is held to it.",
    )
    def put(self, request, seller_id):
        data = validated(LimitsInputSerializer, request.data)
        seller = selectors.get_seller(seller_id=seller_id)
        services.set_limits(seller_id=seller.pk, **data)
        return Response(LimitsSerializer(data).data)
