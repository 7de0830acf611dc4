"""The suggested staff groups (sellers migration 0002) for the platform's
side of the money: accountants record prepayments, set a float's warning
and resolve settlement cases; read-only staff see the floats, their entries
and the settlements. docs/permissions.md."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SEE = [
    "recharges.view_operatorfloat",
    "recharges.view_prepayment",
    "recharges.view_floatentry",
    "settlement.view_settlement",
    "settlement.view_settlementcase",
]
ADDED = {
    "accountant": [
        *SEE,
        "recharges.change_operatorfloat",
        "recharges.add_prepayment",
        "settlement.change_settlementcase",
    ],
    "read-only": SEE,
}


def add_permissions(apps, schema_editor):
    for label in ("recharges", "settlement"):
        app_config = apps.get_app_config(label)
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
    dependencies = [("settlement", "0002_recharge_created_at_brin"), ("sellers", "0002_staff_groups")]

    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
