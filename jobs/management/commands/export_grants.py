"""manage.py export_grants [FILE]: the data grants as a grants file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.grants import export_grants


class Command(BaseCommand):
    help = "Write every data grant as a grants file (the format apply_grants reads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, nargs="?", help="Default: standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = export_grants()
        if options["path"] is None:
            self.stdout.write(text, ending="")
        else:
            options["path"].write_text(text, encoding="utf-8")
