"""The suggested staff groups (sellers migration 0002) for delivery: every
role may see the operators; accountants resolve recharges stuck past the
delivery horizon (a failure refunds the seller). docs/permissions.md."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADDED = {
    "approver": ["recharges.view_operator"],
    "accountant": ["recharges.view_operator", "recharges.view_recharge", "recharges.change_recharge"],
    "support": ["recharges.view_operator"],
    "read-only": ["recharges.view_operator"],
}


def add_permissions(apps, schema_editor):
    app_config = apps.get_app_config("recharges")
    app_config.models_module = True  # create_permissions skips apps without models
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in ADDED.items():
        group, _ = Group.objects.get_or_create(name=name)
        for permission in permissions:
            app_label, codename = permission.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [("recharges", "0005_sale_functions"), ("sellers", "0002_staff_groups")]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
