"""manage.py export_jobs PATH: every job as a YAML file apply_jobs reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs import as_code


class Command(BaseCommand):
    help = "Write each job as PATH/<name>.yaml (the /create_job/ body)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        written = as_code.export_jobs(options["path"])
        self.stdout.write(f"{len(written)} job file(s) written to {options['path']}")
