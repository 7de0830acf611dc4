from django.shortcuts import get_object_or_404

from sellers.models import Seller


def seller_list():
    return Seller.objects.all()


def get_seller(*, seller_id: int) -> Seller:
    return get_object_or_404(Seller, pk=seller_id)
