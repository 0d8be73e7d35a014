from django.db import migrations

from jobs.periodic import apply_periodic_tasks


def forwards(apps, schema_editor):
    apply_periodic_tasks(
        apps.get_model("django_celery_beat", "PeriodicTask"),
        apps.get_model("django_celery_beat", "IntervalSchedule"),
        apps.get_model("django_celery_beat", "PeriodicTasks"),
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0005_dynamodb_mirror")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
