"""The audit app listens to apps below it, which cannot import it."""

from django.dispatch import receiver

from audit.services import record_refused_address
from sellers.signals import api_token_refused


@receiver(api_token_refused, dispatch_uid="audit.record_refused_address")
def _record_refused_address(sender, *, seller_id, user_id, address, path, **kwargs):
    record_refused_address(seller_id=seller_id, user_id=user_id, address=address, path=path)
