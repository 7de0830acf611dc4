"""The project's URLs plus `POST /bench/echo/`, for `loadtests.bench` only.

The echo view is the framework's ceiling: the same gunicorn, middleware, DRF
request parsing (JSON) and JSON rendering as the API, but no authentication,
no throttling and no database. It is never mounted in production URLs.
"""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500, urlpatterns as api_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class EchoView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request):
        return Response(request.data)


urlpatterns = [path("bench/echo/", EchoView.as_view()), *api_urlpatterns]
