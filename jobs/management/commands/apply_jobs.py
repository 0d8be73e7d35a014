"""manage.py apply_jobs PATH [--apply] [--prune]: jobs as code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.exceptions import ApplicationError
from jobs import as_code


class Command(BaseCommand):
    help = (
        "Compare a folder of job files (YAML or JSON, each a /create_job/ body) with the "
        "jobs in DIEP and print the plan; --apply carries it out (in one transaction), "
        "--prune also deletes jobs no file describes (disabling those with runs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--apply", action="store_true", help="Carry out the plan.")
        parser.add_argument("--prune", action="store_true", help="Delete undescribed jobs.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            specs = as_code.read_job_files(options["path"])
        except as_code.JobFilesInvalid as exc:
            lines = [f"{name}: {msg}" for name, msgs in exc.errors.items() for msg in msgs]
            raise CommandError(
                "Invalid job files, nothing applied:\n  " + "\n  ".join(lines)
            ) from exc
        plan = as_code.plan_jobs(specs, prune=options["prune"])
        for change in plan:
            where = f" ({change.source})" if change.source else ""
            label = "would delete" if change.action == "delete" else change.action
            if change.action == "keep":
                label = "not described (kept; --prune deletes)"
            self.stdout.write(f"{label:<10} {change.name}{where}")
            for line in change.diff:
                self.stdout.write(f"    {line}")
        counts = {a: sum(c.action == a for c in plan) for a in ("create", "update", "delete")}
        unchanged = sum(c.action == "unchanged" for c in plan)
        self.stdout.write(
            f"{counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete, {unchanged} unchanged"
        )
        if not options["apply"]:
            return
        try:
            notes = as_code.apply_jobs(plan)
        except ApplicationError as exc:
            raise CommandError(f"Nothing applied: {exc.message}") from exc
        for note in notes:
            self.stdout.write(note)
        self.stdout.write("applied")
