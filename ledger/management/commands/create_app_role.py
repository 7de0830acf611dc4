import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class Command(BaseCommand):
    help = (
        "Creates (or updates) the PostgreSQL role the web application should connect as: "
        "it may read and write the application's tables but never UPDATE, DELETE or "
        "TRUNCATE ledger entries. Run it as the database owner after each migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role")
        parser.add_argument("--password", default=None, help="Set or change the role's password.")

    def handle(self, *args, role, password, **options):
        if not _ROLE_NAME.fullmatch(role):
            raise CommandError("Role names are lower-case letters, digits and underscores.")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {role} LOGIN")
            if password is not None:
                cursor.execute(f"ALTER ROLE {role} PASSWORD %s", [password])
            cursor.execute(f'GRANT CONNECT ON DATABASE "{connection.settings_dict["NAME"]}" TO {role}')
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
            cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON ledger_ledgerentry FROM {role}")
            # The audit trail's triggers refuse UPDATE and DELETE; TRUNCATE fires no row trigger.
            cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM {role}")
        self.stdout.write(
            f"Role {role} may use the application's tables; ledger entries and the audit trail are insert-only for it."
        )
