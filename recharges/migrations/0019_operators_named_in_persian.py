from django.db import migrations

# The names Iranian customers and shops know the six operators by (issue 20);
# staff may still change them in the admin: only an empty name is filled.
PERSIAN_NAMES = {
    "mci": "همراه اول",
    "irancell": "ایرانسل",
    "rightel": "رایتل",
    "mtce": "اسپادان",
    "telekish": "تله‌کیش",
    "aptel": "آپتل",
}


def name_operators(apps, schema_editor):
    Operator = apps.get_model("recharges", "Operator")
    for code, name_fa in PERSIAN_NAMES.items():
        Operator.objects.filter(code=code, name_fa="").update(name_fa=name_fa)


class Migration(migrations.Migration):
    dependencies = [("recharges", "0018_persian_names")]

    operations = [migrations.RunPython(name_operators, migrations.RunPython.noop)]
