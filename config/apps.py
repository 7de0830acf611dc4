from django.apps import AppConfig
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
