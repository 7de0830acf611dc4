"""Rotating or revoking a seller's API tokens is its own permission (issue 18
item 4: read-only staff took over sellers' tokens with the admin actions). The
suggested `support` group gets it (docs/permissions.md); a group edited in the
admin keeps its other permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "support"
CODENAME = "manage_tokens_seller"


def add_permission(apps, schema_editor):
    app_config = apps.get_app_config("sellers")
    app_config.models_module = True  # create_permissions skips apps without models
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(Permission.objects.get(content_type__app_label="sellers", codename=CODENAME))


class Migration(migrations.Migration):
    dependencies = [("sellers", "0003_usernames_unique_ignoring_case")]

    operations = [
        migrations.AlterModelOptions(
            name="seller",
            options={"permissions": [(CODENAME, "Can rotate or revoke a seller's API tokens")]},
        ),
        migrations.RunPython(add_permission, migrations.RunPython.noop),
    ]
