"""The Operators group holds ``catalog.operate``: operator pages and APIs check that permission."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_operators_group(apps, schema_editor):
    app_config = apps.get_app_config("catalog")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Operators")
    group.permissions.add(Permission.objects.get(codename="operate", content_type__app_label="catalog"))


def remove_operators_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Operators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_operators_group, remove_operators_group)]
