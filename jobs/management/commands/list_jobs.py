"""manage.py list_jobs: one line per job with its last run."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs import selectors


class Command(BaseCommand):
    help = "List jobs: name, id, engine, enabled, version, schedule, last run state."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--search", default="", help="Only names containing this text.")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = selectors.job_list_with_stats()
        if options["search"]:
            jobs = jobs.filter(name__icontains=options["search"])
        header = (
            f"{'NAME':<32} {'JOB ID':<36} {'ENGINE':<6} {'ON':<3} {'VER':>4} "
            f"{'SCHEDULE':<20} LAST RUN"
        )
        self.stdout.write(header)
        for job in jobs:
            self.stdout.write(
                f"{job.name:<32} {job.job_id!s:<36} {job.engine:<6} "
                f"{'yes' if job.enabled else 'no':<3} {job.version:>4} "
                f"{job.schedule or '-':<20} {job.last_run_state or '-'}"  # type: ignore[attr-defined]
            )
