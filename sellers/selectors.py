from django.conf import settings
from django.db.models import Case, DateField, F, Func, Value, When
from django.db.models.functions import Now
from django.shortcuts import get_object_or_404

from sellers.models import Seller

LIMITS = ("max_recharge_amount", "daily_amount", "number_hourly_count")


def seller_list():
    return Seller.objects.all()


def get_seller(*, seller_id: int) -> Seller:
    return get_object_or_404(Seller, pk=seller_id)


def limits_of(seller: Seller) -> dict[str, int | None]:
    """The seller's limits as the API gives them (None: no limit)."""
    return {name: getattr(seller, name) for name in LIMITS}


def get_seller_account(*, seller_id: int) -> Seller:
    """The seller, with `used_today`: the amount the current business day's
    recharges (failed ones excepted) count against daily_amount. The row
    keeps the total of the day it was last written on; a later day starts
    at 0. The day is the database's business_day, the one the sale uses."""
    today = Func(Now(), Value(settings.BUSINESS_TIME_ZONE), function="business_day", output_field=DateField())
    used_today = Case(When(daily_amount_day=today, then=F("daily_amount_used")), default=Value(0))
    return get_object_or_404(Seller.objects.annotate(used_today=used_today), pk=seller_id)
