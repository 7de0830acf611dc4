"""The libraries' admins whose actions write, re-registered so that each
action needs a permission like ours do (docs/permissions.md): as shipped they
declare none, so the view permission was enough to retry, cancel or abort a
delivery job, or to delete login attempts."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob


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
