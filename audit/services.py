from audit.models import Event


def record_refused_address(*, seller_id: int, user_id: int, address: str | None, path: str) -> Event:
    """Records an API token refused for its address (None: unreadable).
    Nothing else was written, so no trigger saw it: this is the trail's one
    explicit insert, committed on its own (the request holds no transaction)."""
    return Event.objects.create(
        kind=Event.Kind.ADDRESS_REFUSED,
        action=Event.Action.REFUSED,
        table="sellers_seller",
        object_id=str(seller_id),
        seller_id=seller_id,
        actor_id=user_id,
        address=address,
        path=path[:255],
    )
