"""The admin site: Django's, with the second step of signing in.

The password step is Django's admin login (throttled by django-axes); a
staff user past it is let into the admin only once config.two_factor says
the second step is done: a code from their authenticator (or a recovery
code) in this session, or, when STAFF_TWO_FACTOR is "required" and they have
no authenticator yet, after enrolling one. Until then every admin page
leads to the code page, or to the enrolment page.
"""

from django.contrib import admin
from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from config import two_factor


class StaffAdminSite(admin.AdminSite):
    def has_permission(self, request):
        return super().has_permission(request) and two_factor.admin_allowed(request.user)

    def _signed_in_by_password(self, request) -> bool:
        user = request.user
        return user.is_authenticated and user.is_active and user.is_staff

    def _second_step(self, request) -> HttpResponseRedirect:
        name = "admin:two_factor_verify" if two_factor.has_device(request.user) else "admin:two_factor_enrol"
        target = reverse(name, current_app=self.name)
        following = _safe_next(request)
        return redirect(f"{target}?{urlencode({'next': following})}" if following else target)

    def login(self, request, extra_context=None):
        if self._signed_in_by_password(request) and not self.has_permission(request):
            return self._second_step(request)
        response = super().login(request, extra_context)
        if request.method == "POST" and self._signed_in_by_password(request) and not self.has_permission(request):
            return self._second_step(request)
        return response

    def get_urls(self):
        return [
            path("two-factor/", self._view(self.verify_view), name="two_factor_verify"),
            path("two-factor/enrol/", self._view(self.enrol_view), name="two_factor_enrol"),
            path("two-factor/cancel/", self._view(self.cancel_view), name="two_factor_cancel"),
            *super().get_urls(),
        ]

    def _view(self, view):
        """Open to a staff user past the password step only (not yet admitted: has_permission may be False)."""

        def guarded(request, *args, **kwargs):
            if not self._signed_in_by_password(request):
                return redirect(reverse("admin:login", current_app=self.name))
            return view(request, *args, **kwargs)

        guarded.admin_site = self  # type: ignore[attr-defined]  # read by the permission matrix (tests/helpers/doors.py)
        return never_cache(csrf_protect(guarded))

    def _page(self, request, template, **context):
        return TemplateResponse(
            request,
            template,
            {**self.each_context(request), "next": _safe_next(request), **context},
        )

    def verify_view(self, request):
        if not two_factor.has_device(request.user):
            return self._second_step(request)
        error = ""
        if request.method == "POST":
            try:
                two_factor.verify(request, request.POST.get("code", ""))
            except two_factor.CodeRefused as refusal:
                error = refusal.message
            else:
                return redirect(_safe_next(request) or reverse("admin:index", current_app=self.name))
        return self._page(request, "config/admin/two_factor_verify.html", title=_("Authentication code"), error=error)

    def enrol_view(self, request):
        if two_factor.has_device(request.user):
            return self._second_step(request)
        error = ""
        if request.method == "POST":
            try:
                codes = two_factor.confirm_enrolment(request, request.POST.get("code", ""))
            except two_factor.CodeRefused as refusal:
                error = refusal.message
            else:
                return self._page(
                    request,
                    "config/admin/two_factor_recovery.html",
                    title=_("Recovery codes"),
                    codes=codes,
                    continue_to=_safe_next(request) or reverse("admin:index", current_app=self.name),
                )
        device = two_factor.pending_device(request.user)
        return self._page(
            request,
            "config/admin/two_factor_enrol.html",
            title=_("Set up two-factor sign-in"),
            uri=device.config_url,
            qr=two_factor.qr_svg(device.config_url),
            error=error,
        )

    @method_decorator(require_POST)
    def cancel_view(self, request):
        logout(request)
        return redirect(reverse("admin:login", current_app=self.name))


def _safe_next(request) -> str:
    following = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(following, {request.get_host()}, request.is_secure())
    return following if allowed else ""
