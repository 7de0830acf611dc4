from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from idempotency.services import purge_idempotency_records

MINIMUM_HOURS = 24


class Command(BaseCommand):
    help = "Deletes stored Idempotency-Key responses older than --hours (at least 24)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--hours", type=int, default=MINIMUM_HOURS)

    def handle(self, *args: Any, hours: int, **options: Any) -> None:
        if hours < MINIMUM_HOURS:
            raise CommandError(f"Keys are kept at least {MINIMUM_HOURS} hours.")
        deleted = purge_idempotency_records(older_than=timezone.now() - timedelta(hours=hours))
        self.stdout.write(f"Purged {deleted} idempotency record(s) older than {hours} hours.")
