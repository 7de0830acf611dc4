"""Every door of the site, generated: the admin registry's views and actions,
and every URL pattern (API, portal, staff pages), each with the permission it
declares. tests/config/test_permission_matrix.py holds each door to it.

A door is one (method, URL) or one admin action. What it declares:
- a ModelAdmin's own views and actions: its `has_<name>_permission` methods
  (an action's `allowed_permissions`), which Django names after model
  permissions (`<app_label>.<name>_<model>`, `get_permission_codename`);
- an API view: its permission classes (config.api: `IsSeller`, `staff_with`,
  `seller_or_staff_with`, which carry `required_permission`);
- any other staff page: `config.permissions.requires` (`required_permission`);
- a portal page: `portal.views.seller_required` (`seller_only`).
A URL that declares none of these must be one of PUBLIC_ROUTES."""

from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from config.api import IsSeller

# Doors open to anybody (or that only log in and out): they declare no permission on purpose.
PUBLIC_ROUTES = {
    "",
    "healthz",
    "readyz",
    "metrics",
    "api/schema/",
    "api/docs/",
    "i18n/setlang/",
    "portal/login/",
    "portal/logout/",
    "portal/login/code/",
    "admin/login/",
    "admin/logout/",
    # The second step of signing in (config/admin_site.py): a code, or enrolling an authenticator.
    "admin/two-factor/",
    "admin/two-factor/enrol/",
    "admin/two-factor/cancel/",
}
# Custom views of admins the project does not own (they cannot carry
# `required_permission`): the ModelAdmin check each one makes.
THIRD_PARTY_ADMIN_VIEWS = {"auth_user_password_change": ("auth.user", "change")}
# The views every ModelAdmin gets from Django, by URL name suffix; the
# ModelAdmin check each one makes. "view" is view-or-change, as in Django.
MODEL_ADMIN_VIEWS = {"changelist": "view", "add": "add", "change": "view", "delete": "delete", "history": "view"}
METHODS = ["get", "post", "put", "patch", "delete"]


@dataclass(frozen=True)
class Door:
    """kind: admin-view, admin-action, admin-page (a ModelAdmin's custom URL
    or another staff page), admin-site (the admin's own pages: any staff),
    api, portal. `check` is the ModelAdmin permission name (admin-view,
    admin-action) or the Django permission (admin-page); `api_rule` is a
    tuple of (kind, permission) per permission class."""

    kind: str
    method: str
    route: str
    model_admin: admin.ModelAdmin | None = None
    check: str | tuple[str, ...] | None = None
    action: str = ""
    api_rule: tuple = field(default=())

    @property
    def id(self) -> str:
        label = self.model_admin.opts.label_lower if self.model_admin else ""
        what = f"action {self.action}" if self.action else f"{self.method.upper()} /{self.route}"
        return " ".join(part for part in [self.kind, label, what] if part)


def url_patterns(resolver=None, prefix=""):
    """(route, callback, name) for every pattern under the root URL conf."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback, pattern.name


def all_doors() -> tuple[list[Door], list[str]]:
    """Every door, and a list of problems: URLs or actions that declare nothing."""
    doors: list[Door] = []
    problems: list[str] = []
    for route, callback, name in url_patterns():
        doors_of_url, problem = _doors_of_url(route, callback, name)
        doors += doors_of_url
        if problem:
            problems.append(problem)
    for model_admin in admin.site._registry.values():
        for function, action, _ in model_admin._get_base_actions():
            declared = tuple(getattr(function, "allowed_permissions", ()))
            if not declared and _owned(model_admin):
                # Its door stays in the matrix as one that must be closed to everybody.
                problems.append(f"{model_admin} action {action} declares no allowed_permissions")
            elif not declared:
                declared = ("view",)  # a third party's: Django gives it to whoever sees the list
            doors.append(Door("admin-action", "post", "", model_admin, declared, action))
    return doors, problems


def _doors_of_url(route, callback, name):
    model_admin = getattr(callback, "model_admin", None)
    if name in THIRD_PARTY_ADMIN_VIEWS:
        label, check = THIRD_PARTY_ADMIN_VIEWS[name]
        model_admin = admin.site._registry[apps.get_model(label)]
        return [Door("admin-view", m, route, model_admin, check) for m in ("get", "post")], None
    if model_admin is not None:
        return _model_admin_doors(route, callback, name, model_admin)
    if getattr(callback, "required_permission", None):
        return [Door("admin-page", m, route, check=callback.required_permission) for m in ("get", "post")], None
    view_class = getattr(callback, "cls", None)
    if isinstance(view_class, type) and issubclass(view_class, APIView) and route not in PUBLIC_ROUTES:
        return _api_doors(route, view_class)
    if getattr(callback, "seller_only", False):
        return [Door("portal", m, route) for m in ("get", "post")], None
    if route in PUBLIC_ROUTES:
        return [], None
    if isinstance(getattr(callback, "admin_site", None), AdminSite):
        return [Door("admin-site", "get", route)], None
    return [], f"/{route} ({name}) declares no permission and is not public"


def _model_admin_doors(route, callback, name, model_admin):
    suffix = name.rsplit("_", 1)[-1] if name else ""
    prefix = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_"
    if name == prefix + suffix and suffix in MODEL_ADMIN_VIEWS:
        check = MODEL_ADMIN_VIEWS[suffix]
        post_check = "change" if suffix == "change" else check
        doors = [Door("admin-view", "get", route, model_admin, check)]
        if suffix != "history":
            doors.append(Door("admin-view", "post", route, model_admin, post_check))
        if suffix == "changelist" and model_admin.list_editable:
            doors.append(Door("admin-view", "post-save", route, model_admin, "change"))
        return doors, None
    required = getattr(callback, "required_permission", None)
    if required:
        return [Door("admin-page", m, route, model_admin, required) for m in ("get", "post")], None
    if route.endswith("<path:object_id>/"):
        return [], None  # Django's redirect from an old change URL to the current one
    return [], f"/{route} ({name}, {model_admin}) declares no required_permission"


def _api_doors(route, view_class):
    doors, problems = [], []
    for method in METHODS:
        if not hasattr(view_class, method):
            continue
        view = view_class()
        view.request = Request(APIRequestFactory().generic(method.upper(), "/"))
        view.args, view.kwargs, view.format_kwarg = (), {}, None
        rule = []
        for permission in view.get_permissions():
            kind = type(permission).__name__
            if isinstance(permission, IsSeller):
                rule.append(("seller", None))
            elif kind in {"StaffWithPermission", "SellerOrStaffWithPermission"}:
                rule.append((kind, permission.required_permission))
            else:
                problems.append(f"{method.upper()} /{route}: unknown permission class {kind}")
        if not rule:
            problems.append(f"{method.upper()} /{route} declares no permission and is not public")
        doors.append(Door("api", method, route, api_rule=tuple(rule)))
    return doors, "; ".join(problems) or None


def _owned(model_admin) -> bool:
    """Whether the project wrote this ModelAdmin (its package is one of this repository's)."""
    package = type(model_admin).__module__.split(".")[0]
    return (Path(settings.BASE_DIR) / package / "__init__.py").is_file()


def table_snapshot() -> dict:
    """Row count and a digest of every row of every table, seller balances
    and the ledger's sum: a refused request changes none of them."""
    tables = connection.introspection.table_names()
    parts = [
        f"SELECT '{table}', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
        for table in tables
    ]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts))
        rows = {table: (count, digest) for table, count, digest in cursor.fetchall()}
        cursor.execute("SELECT coalesce(sum(amount), 0) FROM ledger_ledgerentry")
        ledger_sum = cursor.fetchone()[0]
        cursor.execute("SELECT id, balance FROM sellers_seller ORDER BY id")
        balances = cursor.fetchall()
    return {"tables": rows, "ledger_sum": ledger_sum, "balances": balances}
