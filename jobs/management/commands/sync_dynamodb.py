"""manage.py sync_dynamodb --check | --repair: the DynamoDB mirror against the database."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import mirror


class Command(BaseCommand):
    help = "Compare the DynamoDB job mirror with the database; --repair fixes the drift."

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--check", action="store_true", help="Report drift; exit 1 if any.")
        mode.add_argument("--repair", action="store_true", help="Report and repair drift.")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = mirror.mirror_reconcile(repair=options["repair"])
        for name, report in reports.items():
            self.stdout.write(
                f"{name:5} missing {len(report.missing):>5}  stale {len(report.stale):>5}  "
                f"orphans {len(report.orphans):>5}  repaired {report.repaired:>5}"
            )
        drift = sum(report.drift for report in reports.values())
        if options["check"] and drift:
            raise CommandError(f"{drift} item(s) out of sync; run with --repair.")
