from django.shortcuts import get_object_or_404

from callbacks.models import CallbackEndpoint


def get_callback_endpoint(*, seller_id: int) -> CallbackEndpoint:
    return get_object_or_404(CallbackEndpoint, seller_id=seller_id)
