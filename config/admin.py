"""The admin site as a whole, and the libraries' admins.

The libraries' admins whose actions write are re-registered so that each
action needs a permission like ours do (docs/permissions.md): as shipped they
declare none, so the view permission was enough to retry, cancel or abort a
delivery job, or to delete login attempts. The libraries ship no Persian: the
admin's index names their apps and models in the page's language from here."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.apps import apps
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob

# No navigation sidebar: at 1366 px it took 300 px from every list, whose
# columns then broke amounts and phone numbers; the index and the
# breadcrumbs lead to every list.
admin.site.enable_nav_sidebar = False


def _needing_change(action):
    @admin.action(permissions=["change"], description=action.short_description)
    def guarded(model_admin, request, queryset):
        return action(model_admin, request, queryset)

    guarded.__name__ = action.__name__
    return guarded


class JobAdmin(ProcrastinateJobAdmin):
    actions = [_needing_change(action) for action in ProcrastinateJobAdmin.actions]

    def has_change_permission(self, request, obj=None):
        # A job's page stays read-only (the library's choice); its list's
        # actions (retry, cancel, abort) need the change permission.
        return obj is None and admin.ModelAdmin.has_change_permission(self, request)


class LoginAttemptAdmin(AccessAttemptAdmin):
    @admin.action(permissions=["delete"], description=AccessAttemptAdmin.cleanup_expired_attempts.short_description)
    def cleanup_expired_attempts(self, request, queryset):
        return super().cleanup_expired_attempts(request, queryset)


for model, model_admin in ((ProcrastinateJob, JobAdmin), (AccessAttempt, LoginAttemptAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)


# Read when a page is drawn, so each in the page's language (the migrations keep the libraries' own).
for label, app_name in (("axes", _("Login security")), ("knox", _("API access")), ("procrastinate", _("Jobs"))):
    apps.get_app_config(label).verbose_name = app_name
for model, name, plural in (
    (AuthToken, _("API token"), _("API tokens")),
    (ProcrastinateJob, _("background job"), _("background jobs")),
):
    model._meta.verbose_name, model._meta.verbose_name_plural = name, plural


class AuthenticatorAdmin(admin.ModelAdmin):
    """Staff with the permission see who enrolled which authenticator, and
    delete a lost one (its owner then enrols again). Nobody reads or sets a
    key here: keys are made by enrolment (config/two_factor.py), so the
    library's key, QR code and add pages are not offered."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    # Never the key: whoever reads it can compute the owner's codes.
    fields = readonly_fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# django-otp's own admins register only where no admin of the model is (whichever app loads first).
for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, AuthenticatorAdmin)
for label, app_name in (("otp_totp", _("Authenticator apps")), ("otp_static", _("Recovery codes"))):
    apps.get_app_config(label).verbose_name = app_name
for model, name, plural in (
    (TOTPDevice, _("authenticator"), _("authenticators")),
    (StaticDevice, _("set of recovery codes"), _("sets of recovery codes")),
):
    model._meta.verbose_name, model._meta.verbose_name_plural = name, plural
