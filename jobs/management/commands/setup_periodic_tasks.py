"""manage.py setup_periodic_tasks: (re)apply DIEP's Beat entries from jobs.periodic."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from jobs.periodic import PERIODIC_TASKS, apply_periodic_tasks


class Command(BaseCommand):
    help = "Create or update DIEP's periodic (Celery Beat) tasks."

    def handle(self, *args: Any, **options: Any) -> None:
        apply_periodic_tasks(PeriodicTask, IntervalSchedule, PeriodicTasks)
        for entry in PERIODIC_TASKS:
            self.stdout.write(f"{entry.name:32} every {entry.every_seconds:>4}s  {entry.task}")
