from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views import csrf
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import error_body


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
