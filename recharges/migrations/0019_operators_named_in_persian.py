from django.db import migrations

# The Persian names of the contract's six operators (migration 0004), shown on
# Persian pages; an operator staff already named in Persian keeps its name.
PERSIAN_NAMES = {
    "mci": "همراه اول",
    "irancell": "ایرانسل",
    "rightel": "رایتل",
    "mtce": "اسپادان",
    "telekish": "تله‌کیش",
    "aptel": "آپتل",
}


def name_operators_in_persian(apps, schema_editor):
    Operator = apps.get_model("recharges", "Operator")
    for code, name_fa in PERSIAN_NAMES.items():
        Operator.objects.filter(code=code, name_fa="").update(name_fa=name_fa)


class Migration(migrations.Migration):
    dependencies = [("recharges", "0018_persian_names")]

    operations = [migrations.RunPython(name_operators_in_persian, migrations.RunPython.noop)]
