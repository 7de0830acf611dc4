from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from config.formats import rials as format_rials

register = template.Library()


@register.filter
def rials(amount):
    """config.formats.rials, its figure isolated left to right: on a Persian
    page a negative figure's minus would else be drawn after it."""
    text = escape(format_rials(amount))
    if amount is None:
        return text
    figure = f"{amount:,}"  # digits, commas and a sign: nothing to escape
    return mark_safe(text.replace(figure, f'<bdi dir="ltr">{figure}</bdi>', 1))  # noqa: S308 - escaped above


@register.filter
def percent(ratio):
    return f"{ratio:.1%}"


@register.filter
def hours(value):
    """Hours left, to a tenth; "-" when unknown (nothing drawn lately)."""
    return "-" if value is None else f"{value:,.1f}"
