from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from config.errors import InvalidInput
from sellers.models import Seller


def create_seller(*, name: str, username: str) -> tuple[Seller, str]:
    """Creates the seller's user, the seller and its API token together.

    Returns the seller and the token key. The user has no usable password: a
    seller works through the API, never the admin.
    """
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=username)
            seller = Seller.objects.create(user=user, name=name)
            token = Token.objects.create(user=user)
    except IntegrityError as error:
        if "auth_user_username_key" in str(error):
            raise InvalidInput(details={"username": ["A user with this username already exists."]}) from error
        raise
    return seller, token.key
