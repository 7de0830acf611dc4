import json
from collections.abc import Mapping
from typing import Any, cast

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    MAX_AMOUNT,
    ErrorSerializer,
    IsSeller,
    NewestFirstPagination,
    StrictCharField,
    StrictIntegerField,
    amount_field,
    seller_of,
    seller_or_staff_with,
    staff_with,
    token_digest,
    validated,
)
from config.errors import ApplicationError
from config.exceptions import error_response
from config.metrics import count_sale
from config.openapi import errors
from config.routers import listing_on_replica
from config.throttling import SellerRateThrottle
from idempotency.api import IDEMPOTENCY_KEY_PARAMETER, idempotency_key, replay_headers, valid_idempotency_key
from idempotency.services import request_hash
from recharges import selectors, services
from recharges.models import MAX_BATCH_ITEMS, MAX_RATE, Recharge
from recharges.phone_numbers import InvalidPhoneNumber, to_e164
from sellers.selectors import get_seller

PHONE_MAX_LENGTH = 32
OPERATOR_MAX_LENGTH = 16
PRODUCT_MAX_LENGTH = 32
# A sale's refusals: the checks run in this order (400, then 403, then 402, then 409), and nothing is written.
SALE_REFUSALS = {
    402: OpenApiResponse(ErrorSerializer, description="insufficient_balance: nothing was written"),
    403: OpenApiResponse(
        ErrorSerializer,
        description=(
            "limit_exceeded: the sale would pass one of the seller's limits, details "
            '{"limit": "max_recharge_amount" | "daily_amount" | "number_hourly_count", "allowed", "used"}; '
            "nothing was written. Or permission_denied: the caller is not a seller."
        ),
    ),
    409: OpenApiResponse(
        ErrorSerializer,
        description=(
            "operator_unavailable: the platform's float at the operator, less what is already pending delivery "
            'to it, does not cover the sale (a batch: its items of that operator), details {"operator"}; '
            "nothing was written. Stored with the Idempotency-Key and replayed, as a 402. Never without a "
            "tracked float (the default)."
        ),
    ),
}
VALIDATE_ONLY_PARAMETER = OpenApiParameter(
    "validate_only",
    OpenApiTypes.STR,
    enum=["true", "false"],
    description=(
        "true: run every check of the sale against the state of this moment and write nothing; 200 with "
        "what the sale would give, or exactly the error it would give. The Idempotency-Key is then ignored."
    ),
)


def _sale_response(result) -> HttpResponse:
    # The database already rendered the body (and stored it for replays).
    return HttpResponse(
        result.body, status=result.status_code, content_type="application/json", headers=replay_headers(result.replayed)
    )


class PhoneNumberField(serializers.CharField):
    """An Iranian mobile number in any common form, given back in E.164."""

    def __init__(self, **kwargs):
        super().__init__(max_length=PHONE_MAX_LENGTH, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > PHONE_MAX_LENGTH:  # checked on the input: the field's own check sees the E.164 result
            self.fail("max_length", max_length=PHONE_MAX_LENGTH)
        try:
            return to_e164(super().to_internal_value(data))
        except InvalidPhoneNumber as error:
            raise serializers.ValidationError(str(error)) from None


class RechargeInputSerializer(serializers.Serializer):
    phone_number = PhoneNumberField(
        help_text=(
            "An Iranian mobile number in any common form: 09121234567, +989121234567, 989121234567, "
            "00989121234567, +98 0912 123 4567, with spaces or dashes, or in Persian digits."
        )
    )
    amount = amount_field(
        required=False,
        help_text=(
            "Rials (IRR), an integer from 1 to 10^15. Required for airtime; optional with a product, "
            "and then equal to its amount."
        ),
    )
    operator = StrictCharField(
        max_length=OPERATOR_MAX_LENGTH,
        required=False,
        allow_null=True,
        help_text=(
            "An operator code from /operators/; overrides the one detected from the number (ported numbers). "
            "null or absent: the detected one."
        ),
    )
    product = StrictCharField(
        max_length=PRODUCT_MAX_LENGTH,
        required=False,
        allow_null=True,
        help_text="A package code from /products/, of the number's operator; null or absent for airtime.",
    )

    def to_internal_value(self, data):
        # Airtime needs an amount; a product brings its own. Reported with
        # any other field's errors, as a missing required field is.
        missing = isinstance(data, Mapping) and "amount" not in data and data.get("product") is None
        message = ErrorDetail(str(self.fields["amount"].error_messages["required"]), code="required")
        required: dict[str, Any] = {"amount": [message]} if missing else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if isinstance(error.detail, dict):
                error.detail.update(required)
            raise
        if required:
            raise serializers.ValidationError(required)
        return value


def _checked_item(data) -> tuple[str, int, str | None] | None:
    """(E.164 number, amount, operator or None) for the usual valid body,
    checked directly: it costs a fraction of the serializer on the hottest
    path. None for anything else, which then goes through the serializers
    for their error messages."""
    if type(data) is dict and 2 <= len(data) <= 3:
        phone, amount, operator = data.get("phone_number"), data.get("amount"), data.get("operator")
        # A NUL or a lone surrogate (not printable) goes to the serializer, which names the field.
        if len(data) == 3 and not (
            type(operator) is str and 1 <= len(operator) <= OPERATOR_MAX_LENGTH and operator.isprintable()
        ):
            return None
        if type(amount) is int and 1 <= amount <= MAX_AMOUNT and type(phone) is str and len(phone) <= PHONE_MAX_LENGTH:
            try:
                return to_e164(phone), amount, operator
            except InvalidPhoneNumber:
                return None
    return None


Item = tuple[str, int | None, str | None, str | None]
"""A sale item as the services take it: (E.164 number, amount, operator, product)."""


def _item(data) -> Item | None:
    """The item, checked directly for the usual airtime body (see _checked_item)."""
    item = _checked_item(data)
    return None if item is None else (*item, None)


def _valid_item(valid: dict) -> Item:
    return valid["phone_number"], valid.get("amount"), valid.get("operator"), valid.get("product")


def _recharge_input(data) -> Item:
    item = _item(data)
    return _valid_item(validated(RechargeInputSerializer, data)) if item is None else item


def _batch_input(data) -> list[Item]:
    if (
        type(data) is dict
        and len(data) == 1
        and type(data.get("items")) is list
        and 1 <= len(data["items"]) <= MAX_BATCH_ITEMS
    ):
        items = [_item(item) for item in data["items"]]
        if None not in items:
            return cast("list[Item]", items)
    try:
        valid = validated(BatchCreateView.BatchInputSerializer, data)
    except serializers.ValidationError as error:
        detail = error.detail
        item_errors = detail.get("items") if isinstance(detail, dict) else None
        if isinstance(detail, dict) and isinstance(item_errors, dict):
            # An item that is not an object (e.g. null) gets a bare list from DRF;
            # the contract's shape is {"items": {"<index>": {<field>: [messages]}}}.
            detail["items"] = {
                index: {"non_field_errors": messages} if isinstance(messages, list) else messages
                for index, messages in item_errors.items()
            }
        raise
    return [_valid_item(item) for item in valid["items"]]


def _validate_only(request) -> bool:
    """?validate_only=: true or false, once (absent: false); anything else is a 400."""
    values = request.query_params.getlist("validate_only")
    if values not in ([], ["true"], ["false"]):
        raise serializers.ValidationError({"validate_only": ["Give it once, as true or false."]})
    return values == ["true"]


def _counted_as_sale(request) -> bool:
    # A check without a sale (validate_only) is not counted among sales.
    return request.method == "POST" and "validate_only" not in request.GET


class FailureSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=Recharge.Failure.choices)
    message = serializers.CharField()


class RechargeOutputSerializer(serializers.Serializer):
    """A recharge as the API gives it. The body itself is rendered by the
    database (recharges/sql/recharge_json.sql), once for every endpoint; this
    declares its shape for the OpenAPI schema."""

    id = serializers.IntegerField()
    phone_number = serializers.CharField(help_text="E.164, e.g. +989121234567.")
    amount = serializers.IntegerField(help_text="Rials.")
    balance_after = serializers.IntegerField(help_text="The seller's balance right after this debit.")
    created_at = serializers.DateTimeField()
    operator = serializers.CharField(help_text="Operator code, e.g. mci.")
    status = serializers.ChoiceField(choices=Recharge.Status.choices)
    operator_reference = serializers.CharField(allow_null=True)
    failure = FailureSerializer(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    product = serializers.CharField(allow_null=True, help_text="The package's code; null for airtime.")
    commission_rate = serializers.IntegerField(help_text="Basis points, fixed at sale.")
    commission = serializers.IntegerField(
        help_text="Rials credited: floor(amount * rate / 10000) once successful, else 0."
    )

    def to_representation(self, instance):
        return instance.body


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    count = serializers.IntegerField()
    total_amount = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    recharges = RechargeOutputSerializer(many=True)


class RechargeValidOutputSerializer(serializers.Serializer):
    """What POST /recharges/?validate_only=true answers for a sale that would be made."""

    valid = serializers.BooleanField(help_text="Always true (a sale that would be refused gets its error).")
    operator = serializers.CharField()
    amount = serializers.IntegerField(help_text="Rials: the amount sent, or the product's.")
    commission_rate = serializers.IntegerField(help_text="Basis points the recharge would carry.")
    balance_after = serializers.IntegerField(help_text="The balance the 201 would show.")


class BatchValidOutputSerializer(serializers.Serializer):
    """What POST /recharge-batches/?validate_only=true answers for a batch that would be sold."""

    valid = serializers.BooleanField(help_text="Always true (a batch that would be refused gets its error).")
    count = serializers.IntegerField()
    total_amount = serializers.IntegerField()
    balance_after = serializers.IntegerField()


class OperatorOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_fa = serializers.CharField(help_text="The name in Persian; empty if staff set none.")
    enabled = serializers.BooleanField()
    min_amount = serializers.IntegerField()
    max_amount = serializers.IntegerField()
    denominations = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="The only airtime amounts sold, rials, ascending; null: any amount from min_amount to max_amount.",
    )


class ProductOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    operator = serializers.CharField(source="operator_id", help_text="The operator's code.")
    name = serializers.CharField()
    name_fa = serializers.CharField()
    amount = serializers.IntegerField(help_text="Rials: what a sale of it debits.")
    data_mb = serializers.IntegerField()
    validity_days = serializers.IntegerField()
    enabled = serializers.BooleanField()


def _fast_sale(request) -> HttpResponse | None:
    """Sells the recharge if the request is a valid sale by an authenticated
    seller with nothing unusual about it, in one round trip to the database;
    else None (DRF then handles it, and gives the same answer for the same
    input: tests/recharges and tests/config run both paths)."""
    if request.content_type != "application/json" or SellerRateThrottle.THROTTLE_RATES.get("seller"):
        return None
    if request.META.get("QUERY_STRING"):
        return None  # ?validate_only= and the like: DRF reads and checks the query
    if request.content_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return None  # DRF decodes the body with the charset it names
    digest = token_digest(request)
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")  # request.headers would copy every header first
    if digest is None or (key is not None and not valid_idempotency_key(key)):
        return None
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    item = _checked_item(data)
    if item is None:
        return None
    try:
        result = services.sell_recharge_by_token(
            token_digest=digest,
            phone_number=item[0],
            amount=item[1],
            operator=item[2],
            idempotency_key=key,
            request_hash=request_hash(data) if key else None,
        )
    except ApplicationError as error:
        return error_response(error)
    return None if result is None else _sale_response(result)


class RechargeListCreateView(generics.ListAPIView):
    permission_classes = [IsSeller]
    serializer_class = RechargeOutputSerializer
    pagination_class = NewestFirstPagination

    class RechargeFilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Recharge.Status.choices, required=False)

    def get_queryset(self):
        key = self.request.query_params.get("idempotency_key")
        filters = validated(self.RechargeFilterSerializer, self.request.query_params)
        if key is not None and not valid_idempotency_key(key):
            # A key no request could have used (e.g. with a NUL byte) names no recharge.
            return Recharge.objects.none()
        return selectors.recharge_list(seller_id=seller_of(self.request.user).pk, idempotency_key=key, **filters)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "idempotency_key",
                OpenApiTypes.STR,
                description=(
                    "The recharge made under this key, or every recharge of the batch made under it "
                    "(an empty list if none)."
                ),
            ),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Recharge.Status.values),
        ],
        responses={200: RechargeOutputSerializer(many=True), **errors(400, 401, 403)},
    )
    @listing_on_replica(unless_param="idempotency_key")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        # The hottest path: a seller's valid sale skips DRF's request machinery
        # (a third of the server's CPU per sale, measured with loadtests.bench).
        # Anything else, including every error, goes through DRF as usual.
        if request.method == "POST":
            fast = _fast_sale(request)
            response = super().dispatch(request, *args, **kwargs) if fast is None else fast
            if _counted_as_sale(request):
                count_sale("single", response)
            return response
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        request=RechargeInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER, VALIDATE_ONLY_PARAMETER],
        responses={
            200: OpenApiResponse(
                RechargeValidOutputSerializer, description="validate_only=true: the sale would be made"
            ),
            201: RechargeOutputSerializer,
            **errors(400, 401, 403, 422),
            **SALE_REFUSALS,
        },
        examples=[
            OpenApiExample("A top-up of 50,000 rials", value={"phone_number": "0912 123 4567", "amount": 50000}),
            OpenApiExample(
                "A ported number, its operator named",
                value={"phone_number": "+989351234567", "amount": 20000, "operator": "rightel"},
            ),
            OpenApiExample("A data package", value={"phone_number": "09121234567", "product": "mci-1gb-7d"}),
        ],
    )
    def post(self, request):
        validate_only = _validate_only(request)
        phone_number, amount, operator, product = _recharge_input(request.data)
        sale = {
            "seller_id": request.user.seller.pk,
            "phone_number": phone_number,
            "amount": amount,
            "operator": operator,
            "product": product,
        }
        if validate_only:
            return _sale_response(services.validate_recharge(**sale))
        key = idempotency_key(request)
        result = services.sell_recharge(
            **sale, idempotency_key=key, request_hash=request_hash(request.data) if key else None
        )
        return _sale_response(result)


class RechargeDetailView(APIView):
    permission_classes = [IsSeller]

    @extend_schema(responses={200: RechargeOutputSerializer, **errors(401, 403, 404)})
    def get(self, request, recharge_id):
        return Response(selectors.get_recharge(recharge_id=recharge_id, seller_id=request.user.seller.pk))


class BatchCreateView(APIView):
    permission_classes = [IsSeller]

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        if _counted_as_sale(request):
            count_sale("batch", response)
        return response

    class BatchInputSerializer(serializers.Serializer):
        items = serializers.ListField(child=RechargeInputSerializer(), min_length=1, max_length=MAX_BATCH_ITEMS)

    @extend_schema(
        request=BatchInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER, VALIDATE_ONLY_PARAMETER],
        responses={
            200: OpenApiResponse(BatchValidOutputSerializer, description="validate_only=true: the batch would be sold"),
            201: BatchOutputSerializer,
            **errors(400, 401, 403, 422),
            **SALE_REFUSALS,
        },
        description=(
            "All or nothing: each item becomes its own recharge and ledger entry, in item order. "
            "A terminal that lost the response repeats the POST with the same Idempotency-Key "
            "and gets the stored response back. The items together are held to the seller's limits."
        ),
    )
    def post(self, request):
        validate_only = _validate_only(request)
        items = _batch_input(request.data)
        seller_id = request.user.seller.pk
        if validate_only:
            return _sale_response(services.validate_recharge_batch(seller_id=seller_id, items=items))
        key = idempotency_key(request)
        result = services.sell_recharge_batch(
            seller_id=seller_id,
            items=items,
            idempotency_key=key,
            request_hash=request_hash(request.data) if key else None,
        )
        return _sale_response(result)


class BatchDetailView(APIView):
    permission_classes = [IsSeller]

    @extend_schema(responses={200: BatchOutputSerializer, **errors(401, 403, 404)})
    def get(self, request, batch_id):
        body = selectors.get_batch(batch_id=batch_id, seller_id=request.user.seller.pk)
        return HttpResponse(body, content_type="application/json")


class OperatorListView(APIView):
    permission_classes = [seller_or_staff_with("recharges.view_operator")]

    @extend_schema(responses={200: OperatorOutputSerializer(many=True), **errors(401, 403)})
    def get(self, request):
        return Response(OperatorOutputSerializer(selectors.operator_list(), many=True).data)


class ProductListView(APIView):
    permission_classes = [seller_or_staff_with("recharges.view_product")]

    @extend_schema(
        responses={200: ProductOutputSerializer(many=True), **errors(401, 403)},
        description="Every data package, enabled or not, by operator, amount and code. Sell one with POST /recharges/.",
    )
    def get(self, request):
        return Response(ProductOutputSerializer(selectors.product_list(), many=True).data)


RATES = serializers.DictField(child=StrictIntegerField(min_value=0, max_value=MAX_RATE))
COMMISSION_RATES_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "integer", "minimum": 0, "maximum": MAX_RATE},
    "description": "Basis points (0 to 10,000) by operator code.",
    "example": {"mci": 250, "irancell": 300},
}


class CommissionRatesInputSerializer(serializers.Serializer):
    """{"<operator code>": <basis points 0..10000>, ...}: the whole set."""

    def to_internal_value(self, data):
        super().to_internal_value(data)  # refuses anything but an object
        return RATES.run_validation(data)


class SellerCommissionsView(APIView):
    """What a seller earns per operator on each successful recharge; the
    rate in force at the sale is fixed on the recharge."""

    def get_permissions(self):
        permission = "change_commissionrate" if self.request.method == "PUT" else "view_commissionrate"
        return [staff_with(f"recharges.{permission}")()]

    @extend_schema(
        responses={
            200: OpenApiResponse(COMMISSION_RATES_SCHEMA, description="Every operator, 0 where none is set."),
            **errors(401, 403, 404),
        }
    )
    def get(self, request, seller_id):
        seller = get_seller(seller_id=seller_id)
        return Response(selectors.commission_rates(seller_id=seller.pk))

    @extend_schema(
        request={"application/json": COMMISSION_RATES_SCHEMA},
        responses={
            200: OpenApiResponse(COMMISSION_RATES_SCHEMA, description="Every operator, 0 where none is set."),
            **errors(400, 401, 403, 404),
        },
        description=(
            "Replaces the whole set: an operator left out has rate 0. An unknown operator or a rate outside "
            "0..10000 is 400, and nothing is written. Applies to the next sale."
        ),
    )
    def put(self, request, seller_id):
        rates = validated(CommissionRatesInputSerializer, request.data)
        return Response(services.set_commission_rates(seller_id=seller_id, rates=rates))
