from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    IsSeller,
    NewestFirstPagination,
    amount_field,
    seller_of,
    seller_or_staff_with,
    staff_with,
    validated,
)
from config.openapi import errors
from config.routers import listing_on_replica
from credits import selectors, services
from credits.models import DECIDE_CREDIT_REQUESTS, CreditRequest
from idempotency.api import IDEMPOTENCY_KEY_PARAMETER, idempotency_key, replay_headers
from idempotency.services import request_hash, run_idempotent


class RequestingSellerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CreditRequestOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CreditRequest.Status.choices)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    # Whose request it is: staff see every seller's and must not approve blind.
    seller = RequestingSellerSerializer()


# Django permissions of the staff endpoints (docs/permissions.md).
VIEW_CREDIT_REQUESTS = "credits.view_creditrequest"


def _caller_seller_id(request) -> int | None:
    """The caller's seller id; None for staff, who see every seller's requests."""
    return None if request.user.is_staff else seller_of(request.user).pk


class CreditRequestListCreateView(generics.ListAPIView):
    serializer_class = CreditRequestOutputSerializer
    pagination_class = NewestFirstPagination

    class CreditRequestInputSerializer(serializers.Serializer):
        amount = amount_field()

    class CreditRequestFilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=CreditRequest.Status.choices, required=False)

    def get_permissions(self):
        return [IsSeller()] if self.request.method == "POST" else [seller_or_staff_with(VIEW_CREDIT_REQUESTS)()]

    def get_queryset(self):
        filters = validated(self.CreditRequestFilterSerializer, self.request.query_params)
        return selectors.credit_request_list(seller_id=_caller_seller_id(self.request), **filters).select_related(
            "seller"
        )

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=CreditRequest.Status.values)],
        responses={200: CreditRequestOutputSerializer(many=True), **errors(400, 401, 403)},
        description=(
            "A seller sees its own requests; staff (permission credits.view_creditrequest) see every "
            "seller's, each with its `seller`. Newest first."
        ),
    )
    @listing_on_replica()
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=CreditRequestInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: CreditRequestOutputSerializer, **errors(400, 401, 403, 415, 422)},
    )
    def post(self, request):
        data = validated(self.CreditRequestInputSerializer, request.data)
        seller_id = request.user.seller.pk

        def create():
            credit_request = services.request_credit(seller_id=seller_id, **data)
            return status.HTTP_201_CREATED, CreditRequestOutputSerializer(credit_request).data

        key = idempotency_key(request)
        if key is None:
            code, body = create()
            return Response(body, status=code)
        code, body, replayed = run_idempotent(
            seller_id=seller_id,
            key=key,
            endpoint="credit-requests",
            request_hash=request_hash(request.data),
            action=create,
        )
        return Response(body, status=code, headers=replay_headers(replayed))


class CreditRequestDetailView(APIView):
    permission_classes = [seller_or_staff_with(VIEW_CREDIT_REQUESTS)]

    @extend_schema(responses={200: CreditRequestOutputSerializer, **errors(401, 403, 404)})
    def get(self, request, credit_request_id):
        credit_request = selectors.get_credit_request(
            credit_request_id=credit_request_id, seller_id=_caller_seller_id(request)
        )
        return Response(CreditRequestOutputSerializer(credit_request).data)


class CreditRequestApproveView(APIView):
    permission_classes = [staff_with(DECIDE_CREDIT_REQUESTS)]

    @extend_schema(
        request=None,
        responses={200: CreditRequestOutputSerializer, **errors(401, 403, 404, 409)},
        description=(
            "Credits the seller once. Approving an approved request returns it and credits nothing more. "
            "Needs the permission credits.decide_creditrequest."
        ),
    )
    def post(self, request, credit_request_id):
        credit_request = services.approve_credit_request(credit_request_id=credit_request_id, decided_by=request.user)
        return Response(CreditRequestOutputSerializer(credit_request).data)


class CreditRequestRejectView(APIView):
    permission_classes = [staff_with(DECIDE_CREDIT_REQUESTS)]

    @extend_schema(
        request=None,
        responses={200: CreditRequestOutputSerializer, **errors(401, 403, 404, 409)},
        description="Rejecting a rejected request returns it unchanged. Needs the permission credits.decide_creditrequest.",
    )
    def post(self, request, credit_request_id):
        credit_request = services.reject_credit_request(credit_request_id=credit_request_id, decided_by=request.user)
        return Response(CreditRequestOutputSerializer(credit_request).data)
