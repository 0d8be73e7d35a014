"""The three roles: viewer (read), operator (create, fire, stop, retry), admin (all)."""

from django.db import migrations

VIEW = ["view_job", "view_jobversion", "view_jobrun", "view_runevent"]
OPERATE = [*VIEW, "add_job", "change_job", "fire_job", "stop_run", "retry_run"]
ADMIN = [*OPERATE, "delete_job"]
ROLES = {"viewer": VIEW, "operator": OPERATE, "admin": ADMIN}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; the roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
