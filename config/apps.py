from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The plumbing as an app only so that it owns its own table: the
    database cache that holds the throttle counters (config/throttling.py)."""

    name = "config"
    verbose_name = "Plumbing"
