from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from ledger.management.commands.create_app_role import _ROLE_NAME


class Command(BaseCommand):
    help = (
        "Makes DB_STATEMENT_TIMEOUT_MS and DB_LOCK_TIMEOUT_MS (and the UTC time zone) the role's "
        "defaults in this database, for connections that cannot carry them as startup options: "
        "through PgBouncer in transaction mode (DB_TRANSACTION_POOLING=true). Run it against "
        "PostgreSQL itself, as the role or as its owner, after each change of those settings; "
        "PgBouncer's server connections opened after it get them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "role", nargs="?", default=None, help="The role the application connects as (default: this one)."
        )

    def handle(self, *args, role, **options):
        if role is not None and not _ROLE_NAME.fullmatch(role):
            raise CommandError("Role names are lower-case letters, digits and underscores.")
        target = role or "CURRENT_USER"
        database = connection.settings_dict["NAME"].replace('"', '""')
        defaults = {
            "statement_timeout": int(settings.DB_STATEMENT_TIMEOUT_MS),
            "lock_timeout": int(settings.DB_LOCK_TIMEOUT_MS),
            # Else Django sends SET TIME ZONE on every new connection.
            "timezone": "'UTC'",
        }
        with transaction.atomic(), connection.cursor() as cursor:
            for name, value in defaults.items():
                cursor.execute(f'ALTER ROLE {target} IN DATABASE "{database}" SET {name} = {value}')
        self.stdout.write(
            f"Role {role or connection.settings_dict['USER']} in {connection.settings_dict['NAME']}: "
            f"statement_timeout {defaults['statement_timeout']} ms, lock_timeout {defaults['lock_timeout']} ms, timezone UTC."
        )
