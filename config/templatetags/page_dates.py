"""config/dates.py's display for templates that Django's admin renders itself."""

from django import template

from config.dates import show_moment

register = template.Library()

register.filter("moment", show_moment)
