from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from config import two_factor


class Command(BaseCommand):
    """For an operator enrolling a staff member in person, or replacing a
    lost phone: a new authenticator (any other is removed) and new recovery
    codes, printed once for the staff member to scan and keep."""

    help = "Give a staff user a new TOTP authenticator and recovery codes; prints the otpauth:// URI and the codes."

    def add_arguments(self, parser):
        parser.add_argument("username", type=str)

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"User {username} does not exist")
        if not user.is_staff:
            raise CommandError(f"User {username} is not staff (sellers turn two-factor sign-in on in the portal)")
        device, codes = two_factor.enrol_for_operator(user)
        self.stdout.write(f"Authenticator for {username} (add it to the app, or show it as a QR code):")
        self.stdout.write(device.config_url)
        self.stdout.write("Recovery codes (each signs in once):")
        for code in codes:
            self.stdout.write(code)
