"""The project's URLs plus `POST /bench/echo/`, for `loadtests.bench` only.

The echo view is the framework's ceiling, the issue's "DRF POST that
validates JSON but touches no database": the same gunicorn, middleware, DRF
request parsing, a serializer validating the sale's body, and JSON rendering as
the API, but no authentication, no throttling and no database.
`POST /bench/parse/` only parses and renders (no serializer), for comparison.
Neither is ever mounted in production URLs.
"""

from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as api_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class ParseView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request):
        return Response(request.data)


class EchoView(ParseView):
    class SaleBody(serializers.Serializer):
        phone_number = serializers.CharField(max_length=32)
        amount = serializers.IntegerField(min_value=1)

    def post(self, request):
        body = self.SaleBody(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(body.validated_data, status=201)


urlpatterns = [path("bench/echo/", EchoView.as_view()), path("bench/parse/", ParseView.as_view()), *api_urlpatterns]
