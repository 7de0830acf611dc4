"""What every admin list shows alike: the row's number, and the cells that
must stay on one line (an amount, a phone number), so that the lists fit a
1366 px screen without "0912 123 4567" broken into three numbers."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from config.formats import rials


@admin.display(description="#", ordering="pk")
def number(obj) -> str:
    """The row's id, headed "#" as the portal heads it: the same in every language, and narrow."""
    return str(obj.pk)


@admin.display(description=_("seller"), ordering="seller__name")
def seller(obj) -> str:
    """The row's seller by name, which may wrap: a foreign key's column never does."""
    return obj.seller.name


def money(amount: int | None, *, signed: bool = False) -> str:
    return format_html('<span class="nowrap">{}</span>', rials(amount, signed=signed))


def national_number(phone_number) -> str:
    """A PhoneNumber as people write it (its str), its groups left to right on a Persian page too."""
    return format_html('<span class="nowrap" dir="ltr">{}</span>', phone_number)
