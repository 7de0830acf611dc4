from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import IsSeller, NewestFirstPagination, StrictCharField, staff_with, validated
from config.openapi import errors
from config.routers import listing_on_replica
from idempotency.api import IDEMPOTENCY_KEY_PARAMETER, idempotency_key, replay_headers
from idempotency.services import request_hash, run_idempotent
from sellers import selectors, services


class SellerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    balance = serializers.IntegerField()


class MeView(APIView):
    permission_classes = [IsSeller]

    @extend_schema(responses={200: SellerOutputSerializer, **errors(401, 403)})
    def get(self, request):
        return Response(SellerOutputSerializer(request.user.seller).data)


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
        responses={201: SellerCreatedSerializer, **errors(400, 401, 403, 415, 422)},
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
