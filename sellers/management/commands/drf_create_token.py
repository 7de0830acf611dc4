from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from sellers.services import issue_api_token, rotate_api_token


class Command(BaseCommand):
    """DRF's `drf_create_token`, same arguments and output, for hashed tokens:
    every call issues a new key (the old one cannot be shown again)."""

    help = "Create an API token for the given user (--reset revokes the user's other tokens)."

    def add_arguments(self, parser):
        parser.add_argument("username", type=str)
        parser.add_argument("-r", "--reset", action="store_true", dest="reset_token", default=False)

    def handle(self, *args, username, reset_token, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"Cannot create the Token: user {username} does not exist") from None
        key = rotate_api_token(user=user) if reset_token else issue_api_token(user=user)
        self.stdout.write(f"Generated token {key} for user {username}")
