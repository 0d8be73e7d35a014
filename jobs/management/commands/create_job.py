"""manage.py create_job --file job.json: the POST /create_job/ body, same validation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.exceptions import ApplicationError
from diep_portal.parsers import load_document
from jobs import services
from jobs.specs import JobSpecSerializer, error_lines
from jobs.triggers import trigger_warnings


class Command(BaseCommand):
    help = "Create a job from a JSON file holding the POST /create_job/ body."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, help="Path to the job JSON, or - for stdin.")

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
            body = load_document(text, as_yaml=False)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read a JSON job from {source}: {exc}") from exc
        spec = JobSpecSerializer(data=body)
        if not spec.is_valid():
            raise CommandError("Invalid job:\n  " + "\n  ".join(error_lines(spec.errors)))
        try:
            job = services.job_create(spec=spec.validated_data, user=None, source="cli")
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{job.job_id} {job.name} v{job.version}")
        for warning in trigger_warnings(job):
            self.stderr.write(f"warning: {warning}")
