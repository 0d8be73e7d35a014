"""The engines' tracking is one Beat entry (jobs.track_runs, replacing poll_glue_runs and
recover_lost_local_runs); freshness checks and the file ledger's retention are
ingestion's tasks. Re-applies the declared entries, which deletes the retired ones."""

from django.db import migrations

from jobs.periodic import apply_periodic_tasks


def forwards(apps, schema_editor):
    apply_periodic_tasks(
        apps.get_model("django_celery_beat", "PeriodicTask"),
        apps.get_model("django_celery_beat", "IntervalSchedule"),
        apps.get_model("django_celery_beat", "PeriodicTasks"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0008_job_team"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
