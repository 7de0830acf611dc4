import json

from django.core.management.base import BaseCommand, CommandError

from ledger.selectors import reconcile


class Command(BaseCommand):
    help = "Checks every seller's balance against its ledger; exits 1 on any mismatch."

    def handle(self, *args, **options):
        problems = reconcile()
        if problems:
            for problem in problems:
                self.stderr.write(json.dumps(problem))
            raise CommandError(f"{len(problems)} ledger problem(s) found.")
        self.stdout.write("Ledger reconciled: every balance equals the sum of its entries.")
