from django import template

from config.formats import rials as format_rials

register = template.Library()


@register.filter
def rials(amount):
    return format_rials(amount)


@register.filter
def percent(ratio):
    return f"{ratio:.1%}"
