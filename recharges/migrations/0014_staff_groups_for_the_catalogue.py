"""The suggested staff groups (sellers migration 0002) for v1.2: accountants
set commission rates (money the sellers earn); support keeps the catalogue
(products); every role may see both. Limits are fields of the seller, so
`sellers.change_seller` (support) sets them. docs/permissions.md."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADDED = {
    "approver": ["recharges.view_product", "recharges.view_commissionrate"],
    "accountant": [
        "recharges.view_product",
        "recharges.view_commissionrate",
        "recharges.add_commissionrate",
        "recharges.change_commissionrate",
        "recharges.delete_commissionrate",
    ],
    "support": [
        "recharges.view_product",
        "recharges.add_product",
        "recharges.change_product",
        "recharges.view_commissionrate",
    ],
    "read-only": ["recharges.view_product", "recharges.view_commissionrate"],
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
    dependencies = [("recharges", "0013_validators"), ("sellers", "0002_staff_groups")]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
