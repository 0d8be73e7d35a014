"""The three roles: viewer (read), operator (create, fire, stop, retry), admin (all)."""

from django.db import migrations

from jobs.roles import ROLES, ensure_roles_in_migration


def create_roles(apps, schema_editor):
    ensure_roles_in_migration(apps)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
