from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The plumbing as an app so that it owns its own table (the database
    cache that holds the throttle counters, config/throttling.py) and its
    templates, and sets how every admin page shows and filters dates."""

    name = "config"
    verbose_name = "Plumbing"

    def ready(self):
        from config import admin_dates

        admin_dates.install()
