from functools import wraps

from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views import csrf
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import error_body
from config.health import readiness
from config.metrics import exposition, scrape_allowed


class HealthView(APIView):
    authentication_classes = []
    permission_classes = []

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Health", {"status": serializers.CharField(), "database": serializers.CharField()}
            ),
            (503, "application/json"): inline_serializer(
                "HealthDown", {"status": serializers.CharField(), "database": serializers.CharField()}
            ),
        },
        auth=[],
    )
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            response = Response({"status": "error", "database": "unreachable"}, status=503)
            response["Retry-After"] = "1"
            return response
        return Response({"status": "ok", "database": "ok"})


def not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "There is nothing at this address."), status=404)


def bad_request(request, exception=None):
    # E.g. a body above DATA_UPLOAD_MAX_MEMORY_SIZE, or a bad Host header.
    return JsonResponse(error_body("validation_error", "The request could not be understood."), status=400)


def permission_denied(request, exception=None):
    return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)


def csrf_failure(request, reason=""):
    """The CSRF refusal: the contract's JSON body on API paths, Django's own
    page elsewhere (the admin's HTML forms)."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("permission_denied", f"CSRF verification failed: {reason}"), status=403)
    return csrf.csrf_failure(request, reason=reason)


def server_error(request):
    return JsonResponse(error_body("internal_error", "An unexpected error occurred; it has been logged."), status=500)


def _get_only(view):
    """GET (and HEAD) only; anything else is the contract's JSON 405, before
    CSRF checks could answer a POST with an HTML page."""

    @csrf_exempt
    @wraps(view)
    def checked(request):
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                error_body("method_not_allowed", f"Method {request.method} is not allowed."), status=405
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

    return checked


@_get_only
def metrics(request):
    """Prometheus text format for every process of this server (config/metrics.py)."""
    if not scrape_allowed(request.META):
        return JsonResponse(error_body("permission_denied", "Metrics need the scrape token."), status=403)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


@_get_only
def ready(request):
    """Readiness: 200 when this server can do its work, else 503 naming what is not ready."""
    ready, checks = readiness()
    response = JsonResponse({"status": "ready" if ready else "not_ready", **checks}, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = "5"
    return response
