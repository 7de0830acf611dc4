"""Usernames are unique ignoring case and Unicode width (issue 10, item 12):
`ＳＴＡＦＦ`, `Staff` and `staff` name one user. The database holds the rule,
so concurrent requests and every way in (API, admin, manage.py) obey it.

NFKC folds width and compatibility forms (Django's create_user applies it
too); lower() folds case. PostgreSQL before 18 has no casefold(), so the few
letters whose case folding differs from lowercasing (German ß and "ss") stay
apart. Built concurrently: auth_user is read by every authentication. It
fails if two existing users already collide; rename one of them first.
"""

from django.db import migrations

INDEX = "auth_user_username_folded_unique"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("sellers", "0002_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON auth_user (lower(normalize(username, NFKC)))",
            f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
        )
    ]
