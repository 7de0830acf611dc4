"""Settles operators' business days against their statements
(settlement.services): `manage.py settle --operator mci --date 1405-09-16`
(a Jalali or an ISO day; default: yesterday, every enabled operator)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from config.dates import business_today, read_day
from recharges.gateway import StatementUnavailable, gateway_from_settings
from recharges.models import Operator
from settlement.services import settle


class Command(BaseCommand):
    help = "Compares an operator's daily statement with our recharges; each difference becomes a case for staff."

    def add_arguments(self, parser):
        parser.add_argument("--operator", help="an operator code (default: every enabled operator)")
        parser.add_argument("--date", help="the business day, Jalali (1405-09-16) or ISO (default: yesterday)")

    def handle(self, *args, operator, date, **options):
        try:
            day = read_day(date) if date else business_today() - timedelta(days=1)
        except ValueError as error:
            raise CommandError(f"--date: {error}") from error
        operators = (
            [operator] if operator else list(Operator.objects.filter(enabled=True).values_list("code", flat=True))
        )
        unknown = set(operators) - set(Operator.objects.values_list("code", flat=True))
        if unknown:
            raise CommandError(f"--operator: no operator {', '.join(sorted(unknown))}")
        gateway = gateway_from_settings()
        try:
            for code in operators:
                try:
                    done = settle(operator=code, day=day, gateway=gateway)
                except StatementUnavailable as error:
                    raise CommandError(f"{code} {day}: no statement ({error}); nothing written") from error
                self.stdout.write(
                    f"{code} {day}: {done.statement_lines} statement lines, {done.recharges} recharges,"
                    f" {done.matched} matched, {done.differences} differences ({done.seconds:.2f} s)"
                )
        finally:
            gateway.close()
