from typing import cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    MAX_AMOUNT,
    ErrorSerializer,
    IsSeller,
    LedgerPagination,
    StrictCharField,
    StrictIntegerField,
    seller_of,
    staff_with,
    validated,
)
from config.openapi import errors
from config.routers import listing_on_replica
from idempotency.api import IDEMPOTENCY_KEY_PARAMETER, idempotency_key, replay_headers
from idempotency.services import request_hash, run_idempotent
from ledger import selectors, services
from ledger.models import BalanceAdjustment, LedgerEntry
from sellers.selectors import get_seller

_REFERENCES = [
    ("credit_request_id", "credit_request"),
    ("recharge_id", "recharge"),
    ("adjustment_id", "adjustment"),
]


class ReferenceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[kind for _, kind in _REFERENCES])
    id = serializers.IntegerField()


class TransactionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    amount = serializers.IntegerField(help_text="Signed: credits positive, debits negative.")
    balance_after = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    reference = serializers.SerializerMethodField()

    @staticmethod
    @extend_schema_field(ReferenceSerializer)
    def get_reference(entry) -> dict:
        return next({"type": kind, "id": getattr(entry, field)} for field, kind in _REFERENCES if getattr(entry, field))


class TransactionListView(generics.ListAPIView):
    permission_classes = [IsSeller]
    serializer_class = TransactionOutputSerializer
    pagination_class = LedgerPagination

    class TransactionFilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices, required=False)
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)

    def get_queryset(self):
        filters = validated(self.TransactionFilterSerializer, self.request.query_params)
        return selectors.ledger_entries(seller_id=seller_of(self.request.user).pk, **filters)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=LedgerEntry.Kind.values),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Inclusive, ISO 8601."),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Exclusive, ISO 8601."),
        ],
        responses={200: TransactionOutputSerializer(many=True), **errors(400, 401, 403)},
        description="The caller's ledger, newest entry first.",
    )
    @listing_on_replica()
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AdjustmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.IntegerField()
    reason = serializers.CharField()
    balance_after = serializers.IntegerField(allow_null=True, help_text="null while it waits for a second approval.")
    status = serializers.ChoiceField(
        choices=BalanceAdjustment.Status.choices,
        required=False,
        help_text="Only on an adjustment above FOUR_EYES_ADJUSTMENT_THRESHOLD (four eyes).",
    )


def adjustment_body(result: LedgerEntry | BalanceAdjustment) -> dict:
    """An applied adjustment (its ledger entry) or one that waits for its second approval."""
    if isinstance(result, BalanceAdjustment):
        adjustment, balance_after = result, None
    else:
        adjustment, balance_after = cast(BalanceAdjustment, result.adjustment), result.balance_after
    body = {
        "id": adjustment.pk,
        "amount": adjustment.amount,
        "reason": adjustment.reason,
        "balance_after": balance_after,
    }
    # v1's body is unchanged: only an adjustment that took four eyes says its status.
    if adjustment.status != BalanceAdjustment.Status.APPLIED or adjustment.approved_by_id:
        body["status"] = adjustment.status
    return AdjustmentOutputSerializer(body).data


SECOND_APPROVER_REQUIRED = OpenApiResponse(
    ErrorSerializer,
    description="second_approver_required: the caller made it (or is the seller); another staff member must approve",
)


class AdjustmentApproveView(APIView):
    permission_classes = [staff_with("ledger.add_balanceadjustment")]

    @extend_schema(
        request=None,
        responses={
            201: AdjustmentOutputSerializer,
            402: OpenApiResponse(ErrorSerializer, description="insufficient_balance: nothing was written"),
            409: SECOND_APPROVER_REQUIRED,
            **errors(401, 403, 404),
        },
        description=(
            "The second approval of an adjustment that waits for one (four eyes): a different staff member "
            "with ledger.add_balanceadjustment applies it, once. Approving an applied adjustment returns it."
        ),
    )
    def post(self, request, seller_id, adjustment_id):
        entry = services.approve_adjustment(seller_id=seller_id, adjustment_id=adjustment_id, approved_by=request.user)
        return Response(adjustment_body(entry), status=status.HTTP_201_CREATED)


class AdjustmentRejectView(APIView):
    permission_classes = [staff_with("ledger.add_balanceadjustment")]

    @extend_schema(
        request=None,
        responses={
            200: AdjustmentOutputSerializer,
            409: OpenApiResponse(ErrorSerializer, description="already_decided: it was applied; nothing changed"),
            **errors(401, 403, 404),
        },
        description=(
            "Rejects an adjustment that waits for its second approval (four eyes): it never posts. Any staff "
            "member with ledger.add_balanceadjustment may, its maker too; rejecting a rejected one returns it."
        ),
    )
    def post(self, request, seller_id, adjustment_id):
        adjustment = services.reject_adjustment(
            seller_id=seller_id, adjustment_id=adjustment_id, rejected_by=request.user
        )
        return Response(adjustment_body(adjustment))


class AdjustmentCreateView(APIView):
    permission_classes = [staff_with("ledger.add_balanceadjustment")]

    class AdjustmentInputSerializer(serializers.Serializer):
        amount = StrictIntegerField(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT)
        reason = StrictCharField(max_length=255)

        def validate_amount(self, value):
            if value == 0:
                raise serializers.ValidationError("An adjustment may not be 0.")
            return value

    @extend_schema(
        request=AdjustmentInputSerializer,
        description=(
            "Above FOUR_EYES_ADJUSTMENT_THRESHOLD (either sign) the adjustment posts nothing: 201 with "
            '`"status": "awaiting_second_approval"` and `balance_after` null, until a second, different staff '
            "member approves it (POST .../adjustments/{adjustment_id}/approve/)."
        ),
        responses={
            201: AdjustmentOutputSerializer,
            402: OpenApiResponse(ErrorSerializer, description="insufficient_balance: nothing was written"),
            409: OpenApiResponse(
                ErrorSerializer,
                description="balance_limit_exceeded: the balance would pass 2^63 - 1; nothing was written",
            ),
            **errors(400, 401, 403, 404, 422),
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    def post(self, request, seller_id):
        data = validated(self.AdjustmentInputSerializer, request.data)
        seller = get_seller(seller_id=seller_id)

        def adjust():
            result = services.adjust_balance(seller_id=seller.pk, created_by=request.user, **data)
            return status.HTTP_201_CREATED, adjustment_body(result)

        key = idempotency_key(request)
        if key is None:
            code, body = adjust()
            return Response(body, status=code)
        # A staff user's keys are their own (per adjusted seller): a seller's key,
        # or another staff member's, neither collides with nor reveals them.
        code, body, replayed = run_idempotent(
            seller_id=seller.pk,
            staff_user_id=request.user.pk,
            key=key,
            endpoint="adjustments",
            request_hash=request_hash(request.data),
            action=adjust,
        )
        return Response(body, status=code, headers=replay_headers(replayed))
