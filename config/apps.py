from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConfigConfig(AppConfig):
    """The plumbing as an app only so that it owns its own table: the
    database cache that holds the throttle counters (config/throttling.py)."""

    name = "config"
    verbose_name = _("Plumbing")
