"""Viewers and operators read the file ledger in the admin (their teams' files), as they
already do in the API."""

from django.db import migrations

from jobs.roles import ensure_roles_in_migration


def grant(apps, schema_editor):
    ensure_roles_in_migration(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0003_dlq_audit"),
        ("jobs", "0010_data_grants"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
