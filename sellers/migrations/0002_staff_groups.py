"""The suggested staff roles as groups (docs/permissions.md).

Permissions are normally created after all migrations (post_migrate), so
they are created here first. Staff get a role by joining a group in the
admin; superusers need none. Later edits to a group in the admin stay: a
group that already exists keeps its permissions and gets the listed ones added.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "approver": [
        "sellers.view_seller",
        "credits.view_creditrequest",
        "credits.decide_creditrequest",
    ],
    "accountant": [
        "sellers.view_seller",
        "credits.view_creditrequest",
        "ledger.view_ledgerentry",
        "ledger.view_balanceadjustment",
        "ledger.add_balanceadjustment",
    ],
    "support": [
        "sellers.view_seller",
        "sellers.add_seller",
        "sellers.change_seller",
        "credits.view_creditrequest",
        "recharges.view_recharge",
        "recharges.view_rechargebatch",
    ],
    "read-only": [
        "sellers.view_seller",
        "credits.view_creditrequest",
        "ledger.view_ledgerentry",
        "ledger.view_balanceadjustment",
        "recharges.view_recharge",
        "recharges.view_rechargebatch",
    ],
}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # create_permissions skips apps without models
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for permission in permissions:
            app_label, codename = permission.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sellers", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("credits", "0003_permission_to_decide_credit_requests"),
        ("ledger", "0002_initial"),
        ("recharges", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
