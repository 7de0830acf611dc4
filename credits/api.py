import hashlib

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    MAX_AMOUNT,
    ErrorSerializer,
    IsSeller,
    JSONParser,
    NewestFirstPagination,
    StrictCharField,
    amount_field,
    seller_of,
    seller_or_staff_with,
    staff_with,
    validated,
)
from config.openapi import errors
from config.routers import listing_on_replica
from credits import evidence, selectors, services
from credits.banks import BANK_CHOICES, BANKS
from credits.models import DECIDE_CREDIT_REQUESTS, VIEW_CREDIT_REQUESTS, CreditRequest
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
    # The transfer's evidence; null where the seller gave none.
    bank = serializers.CharField(allow_null=True)
    tracking_number = serializers.CharField(allow_null=True)
    transferred_on = serializers.DateField(allow_null=True)
    receipt_url = serializers.SerializerMethodField()

    def to_representation(self, instance):
        body = super().to_representation(instance)
        return {**body, "bank": body["bank"] or None, "tracking_number": body["tracking_number"] or None}

    def get_receipt_url(self, credit_request) -> str | None:
        if not credit_request.receipt:
            return None
        url = reverse("credit_request_receipt", args=[credit_request.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


RECEIPT_ALREADY_USED = (
    "receipt_already_used: the bank's tracking number is on a pending or approved credit request; nothing was written"
)


class TrackingNumberField(StrictCharField):
    def to_internal_value(self, data):
        try:
            return evidence.clean_tracking_number(super().to_internal_value(data))
        except evidence.InvalidEvidence as error:
            raise serializers.ValidationError(str(error)) from None


class ReceiptField(serializers.FileField):
    def to_internal_value(self, data):
        receipt = super().to_internal_value(data)  # refuses a 0-byte file
        try:
            return evidence.clean_receipt(receipt)
        except evidence.InvalidEvidence as error:
            raise serializers.ValidationError(str(error)) from None


def _caller_seller_id(request) -> int | None:
    """The caller's seller id; None for staff, who see every seller's requests."""
    return None if request.user.is_staff else seller_of(request.user).pk


class CreditRequestListCreateView(generics.ListAPIView):
    serializer_class = CreditRequestOutputSerializer
    pagination_class = NewestFirstPagination

    parser_classes = [JSONParser, parsers.MultiPartParser]

    class CreditRequestInputSerializer(serializers.Serializer):
        amount = amount_field()
        bank = serializers.ChoiceField(choices=BANK_CHOICES, required=False)
        tracking_number = TrackingNumberField(required=False)
        transferred_on = serializers.DateField(required=False)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name in evidence.REQUIRED_FIELDS:
                self.fields[name].required = evidence.evidence_required()

    class CreditRequestFormSerializer(CreditRequestInputSerializer):
        """The same as a form (multipart/form-data), with the receipt file:
        a form's fields are all strings, so the amount is read from one."""

        amount = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT)  # type: ignore[assignment]
        receipt = ReceiptField(required=False)

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
        request={
            "application/json": CreditRequestInputSerializer,
            "multipart/form-data": CreditRequestFormSerializer,
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: CreditRequestOutputSerializer,
            **errors(400, 401, 403, 422),
            409: OpenApiResponse(ErrorSerializer, description=RECEIPT_ALREADY_USED),
        },
        description=(
            "`bank`, `tracking_number` and `transferred_on` are optional evidence of the transfer; as "
            "multipart/form-data a `receipt` file (PNG, JPEG or PDF by content, at most 5 MB) may come too. "
            "409 receipt_already_used: the bank's tracking number is on a pending or approved request."
        ),
    )
    def post(self, request):
        form = request.content_type.startswith("multipart/")
        data = validated(self.CreditRequestFormSerializer if form else self.CreditRequestInputSerializer, request.data)
        seller_id = request.user.seller.pk

        def create():
            credit_request = services.request_credit(seller_id=seller_id, **data)
            body = CreditRequestOutputSerializer(credit_request, context={"request": request}).data
            return status.HTTP_201_CREATED, body

        key = idempotency_key(request)
        if key is None:
            code, body = create()
            return Response(body, status=code)
        code, body, replayed = run_idempotent(
            seller_id=seller_id,
            key=key,
            endpoint="credit-requests",
            request_hash=request_hash(_hashable(request.data, data) if form else request.data),
            action=create,
        )
        return Response(body, status=code, headers=replay_headers(replayed))


def _hashable(form, data) -> dict:
    """A form's fields, and its receipt by content, for the Idempotency-Key's request hash."""
    fields: dict = {name: form.getlist(name) for name in form if name != "receipt"}
    if receipt := data.get("receipt"):
        digest = hashlib.sha256()
        for chunk in receipt.chunks():
            digest.update(chunk)
        fields["receipt"] = digest.hexdigest()
    return fields


class CreditRequestDetailView(APIView):
    permission_classes = [seller_or_staff_with(VIEW_CREDIT_REQUESTS)]

    @extend_schema(responses={200: CreditRequestOutputSerializer, **errors(401, 403, 404)})
    def get(self, request, credit_request_id):
        credit_request = selectors.get_credit_request(
            credit_request_id=credit_request_id, seller_id=_caller_seller_id(request)
        )
        return Response(CreditRequestOutputSerializer(credit_request, context={"request": request}).data)


class CreditRequestApproveView(APIView):
    permission_classes = [staff_with(DECIDE_CREDIT_REQUESTS)]

    @extend_schema(
        request=None,
        responses={
            200: CreditRequestOutputSerializer,
            **errors(401, 403, 404),
            409: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "already_decided: it was rejected; second_approver_required: the caller approved it first "
                    "or is its seller; receipt_already_used: its tracking number funded an approved request"
                ),
            ),
        },
        description=(
            "Credits the seller once. Approving an approved request returns it and credits nothing more. "
            "Four eyes: above FOUR_EYES_CREDIT_THRESHOLD the first approval answers "
            '`"status": "awaiting_second_approval"` and credits nothing; a second, different staff member\'s '
            "approval credits it. Needs the permission credits.decide_creditrequest."
        ),
    )
    def post(self, request, credit_request_id):
        credit_request = services.approve_credit_request(credit_request_id=credit_request_id, decided_by=request.user)
        return Response(CreditRequestOutputSerializer(credit_request, context={"request": request}).data)


class CreditRequestRejectView(APIView):
    permission_classes = [staff_with(DECIDE_CREDIT_REQUESTS)]

    @extend_schema(
        request=None,
        responses={200: CreditRequestOutputSerializer, **errors(401, 403, 404, 409)},
        description="Rejecting a rejected request returns it unchanged. Needs the permission credits.decide_creditrequest.",
    )
    def post(self, request, credit_request_id):
        credit_request = services.reject_credit_request(credit_request_id=credit_request_id, decided_by=request.user)
        return Response(CreditRequestOutputSerializer(credit_request, context={"request": request}).data)


class CreditRequestReceiptView(APIView):
    """The receipt file, to its own seller and to staff who may see credit
    requests: nothing else serves the files (they are not under the web root)."""

    permission_classes = [seller_or_staff_with(VIEW_CREDIT_REQUESTS)]

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **errors(401, 403, 404)},
        description="The PNG, JPEG or PDF the seller attached; 404 when there is none or the request is not yours.",
    )
    def get(self, request, credit_request_id):
        credit_request = selectors.get_credit_request(
            credit_request_id=credit_request_id, seller_id=_caller_seller_id(request)
        )
        if not credit_request.receipt:
            raise Http404
        return selectors.receipt_response(credit_request)


class BankOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_fa = serializers.CharField()


class BankListView(APIView):
    permission_classes = [seller_or_staff_with(VIEW_CREDIT_REQUESTS)]

    @extend_schema(
        responses={200: BankOutputSerializer(many=True), **errors(401, 403)},
        description="The banks a credit request's `bank` may name: a plain array.",
    )
    def get(self, request):
        return Response(BankOutputSerializer([bank._asdict() for bank in BANKS], many=True).data)
