from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from callbacks import selectors, services
from callbacks.models import URL_MAX_LENGTH
from config.api import IsSeller, StrictCharField, validated
from config.openapi import errors


class CallbackView(APIView):
    """The caller's callback URL. Events are POSTed to it signed with the secret
    (header `Recharge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`)."""

    permission_classes = [IsSeller]

    class CallbackInputSerializer(serializers.Serializer):
        url = StrictCharField(max_length=URL_MAX_LENGTH)

    class CallbackOutputSerializer(serializers.Serializer):
        url = serializers.CharField()

    class CallbackSetSerializer(serializers.Serializer):
        url = serializers.CharField()
        secret = serializers.CharField(help_text="64 lowercase hex characters; shown only in this response.")

    @extend_schema(responses={200: CallbackOutputSerializer, **errors(401, 403, 404)})
    def get(self, request):
        endpoint = selectors.get_callback_endpoint(seller_id=request.user.seller.pk)
        return Response(self.CallbackOutputSerializer(endpoint).data)

    @extend_schema(
        request=CallbackInputSerializer,
        responses={200: CallbackSetSerializer, **errors(400, 401, 403)},
        description="Sets or replaces the URL; every call makes a new secret. "
        "http or https (https only in production, where hosts with non-public addresses are refused).",
    )
    def put(self, request):
        data = validated(self.CallbackInputSerializer, request.data)
        url, secret = services.set_callback_url(seller_id=request.user.seller.pk, url=data["url"])
        return Response(self.CallbackSetSerializer({"url": url, "secret": secret}).data)

    @extend_schema(
        responses={204: OpenApiResponse(description="Removed, or there was none."), **errors(401, 403)},
        description="Removes the URL (idempotent: 204 also when there was none); undelivered events are abandoned.",
    )
    def delete(self, request):
        services.delete_callback(seller_id=request.user.seller.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
