"""The permission a staff page declares. A page of the admin outside a
ModelAdmin's own views (a dashboard, a "Resolve…" form) names the Django
permission it needs with `requires`; the permission matrix
(tests/config/test_permission_matrix.py) reads it back as
`view.required_permission`, so every door is held to what it declares."""

from functools import wraps

from django.core.exceptions import PermissionDenied


def requires(permission: str):
    """Refuses (403) a user without this permission ("app_label.codename");
    superusers hold every one. For a ModelAdmin method, wrap it in
    `django.utils.decorators.method_decorator`."""

    def decorate(view):
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        checked.required_permission = permission  # type: ignore[attr-defined]
        return checked

    return decorate
