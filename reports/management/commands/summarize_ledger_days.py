from django.core.management.base import BaseCommand

from reports.services import summarize_days


class Command(BaseCommand):
    help = "Sums the ledger's closed business days for reports (run hourly or daily; safe to repeat)."

    def handle(self, *args, **options):
        through = summarize_days()
        self.stdout.write(f"Days summed through {through}.")
