from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import IsSeller, seller_of, seller_or_staff_with, staff_with, validated
from config.constants import FIRST_DAY, LAST_DAY
from config.openapi import errors
from reports import selectors
from sellers.selectors import get_seller

MAX_REPORT_DAYS = 366
# Staff read money movements with the ledger's own view permission.
LEDGER_VIEW_PERMISSION = "ledger.view_ledgerentry"


class ReportRowSerializer(serializers.Serializer):
    date = serializers.DateField()
    recharges = serializers.IntegerField(help_text="Recharges sold that day.")
    recharged_amount = serializers.IntegerField(help_text="Rials, absolute.")
    refunded_amount = serializers.IntegerField(help_text="Rials, absolute.")
    credited_amount = serializers.IntegerField(help_text="Rials, absolute.")
    adjusted_amount = serializers.IntegerField(help_text="Rials, signed sum of adjustments.")
    commission_amount = serializers.IntegerField(help_text="Rials: commissions credited that day.")
    balance_end = serializers.IntegerField(
        required=False,
        help_text="Balance at the end of the day (current balance for today and later); one seller only.",
    )


class ReportSerializer(serializers.Serializer):
    results = ReportRowSerializer(many=True)


class DailyReportView(APIView):
    permission_classes = [seller_or_staff_with(LEDGER_VIEW_PERMISSION)]

    class ReportInputSerializer(serializers.Serializer):
        seller = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

        def get_fields(self):
            # `from` is a Python keyword, so it cannot be declared as a class attribute.
            return {
                "from": serializers.DateField(input_formats=["%Y-%m-%d"]),
                "to": serializers.DateField(input_formats=["%Y-%m-%d"]),
                **super().get_fields(),
            }

        def validate(self, data):
            # Midnights in the business time zone must exist as timestamps on both ends.
            if data["from"] < FIRST_DAY or data["to"] > LAST_DAY:
                raise serializers.ValidationError({"from": [f"Days run from {FIRST_DAY} to {LAST_DAY}."]})
            if data["from"] > data["to"]:
                raise serializers.ValidationError({"to": ["Must be on or after `from`."]})
            if (data["to"] - data["from"]).days + 1 > MAX_REPORT_DAYS:
                raise serializers.ValidationError({"to": [f"A report covers at most {MAX_REPORT_DAYS} days."]})
            return data

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First day, YYYY-MM-DD, inclusive."),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, required=True, description="Last day, inclusive; at most 366 days."
            ),
            OpenApiParameter(
                "seller",
                OpenApiTypes.INT,
                description="Staff: one seller's rows, with balance_end (404 if unknown). Sellers always get their own.",
            ),
        ],
        responses={
            200: OpenApiResponse(
                ReportSerializer, description="One row per day, oldest first, days in BUSINESS_TIME_ZONE."
            ),
            **errors(400, 401, 403, 404),
        },
        description="Daily totals. Staff without `seller` get all sellers summed, without balance_end.",
    )
    def get(self, request):
        data = validated(self.ReportInputSerializer, request.query_params)
        seller = seller_of(request.user)
        if request.user.is_staff:
            seller = get_seller(seller_id=data["seller"]) if "seller" in data else None
        rows = selectors.daily_report(
            date_from=data["from"], date_to=data["to"], seller_id=seller.pk if seller else None
        )
        return Response({"results": ReportRowSerializer(rows, many=True).data})


class ExportFilterSerializer(serializers.Serializer):
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


def _export_filters(request) -> dict:
    # An empty value means no bound.
    params = {name: value for name, value in request.query_params.items() if value != ""}
    return validated(ExportFilterSerializer, params)


def csv_response(export: selectors.Export, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


EXPORT_PARAMETERS = [
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Inclusive, ISO 8601; empty: no bound."),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Exclusive, ISO 8601; empty: no bound."),
]
EXPORT_DESCRIPTION = (
    "The ledger as CSV (UTF-8, no BOM), streamed in sequence order: "
    "`sequence,created_at,kind,amount,balance_after,reference_type,reference_id`."
)


class TransactionExportView(APIView):
    permission_classes = [IsSeller]

    @extend_schema(
        parameters=EXPORT_PARAMETERS,
        description=EXPORT_DESCRIPTION,
        responses={(200, "text/csv"): OpenApiTypes.STR, **errors(400, 401, 403)},
    )
    def get(self, request):
        seller = request.user.seller
        export = selectors.Export(seller_id=seller.pk, **_export_filters(request))
        return csv_response(export, f"transactions-{seller.pk}.csv")


class SellerTransactionExportView(APIView):
    permission_classes = [staff_with(LEDGER_VIEW_PERMISSION)]

    @extend_schema(
        parameters=EXPORT_PARAMETERS,
        description=EXPORT_DESCRIPTION,
        responses={(200, "text/csv"): OpenApiTypes.STR, **errors(400, 401, 403, 404)},
    )
    def get(self, request, seller_id):
        filters = _export_filters(request)
        seller = get_seller(seller_id=seller_id)
        return csv_response(selectors.Export(seller_id=seller.pk, **filters), f"transactions-{seller.pk}.csv")
