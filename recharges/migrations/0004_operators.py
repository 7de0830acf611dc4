from django.db import migrations

# The contract's six operators, enabled, admitting every v1 amount.
OPERATORS = [
    ("mci", "MCI (Hamrah-e Aval)"),
    ("irancell", "Irancell"),
    ("rightel", "Rightel"),
    ("mtce", "MTCE (Espadan)"),
    ("telekish", "TeleKish"),
    ("aptel", "Aptel"),
]


def add_operators(apps, schema_editor):
    Operator = apps.get_model("recharges", "Operator")
    for code, name in OPERATORS:
        Operator.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("recharges", "0003_delivery")]

    operations = [migrations.RunPython(add_operators, migrations.RunPython.noop)]
