from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class ConfigConfig(AppConfig):
    """The plumbing as an app so that it owns its own table (the database
    cache that holds the throttle counters, config/throttling.py) and its
    templates, and sets how every admin page shows and filters dates."""

    name = "config"
    verbose_name = _("Plumbing")

    def ready(self):
        from config import admin_dates

        admin_dates.install()


class StaffAdminConfig(admin_apps.AdminConfig):
    """Django's admin, its default site config.admin_site.StaffAdminSite (the second step of signing in)."""

    default = False  # "config" in INSTALLED_APPS is ConfigConfig
    default_site = "config.admin_site.StaffAdminSite"
