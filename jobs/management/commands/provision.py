"""manage.py provision [--plan] [--iam-policy] [--json]: DIEP's AWS infrastructure."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.exceptions import ApplicationError, AwsError
from diep_portal.infrastructure import infrastructure_apply, infrastructure_iam_policy


class Command(BaseCommand):
    help = (
        "Create or update DIEP's AWS resources (buckets, queue and DLQ, notifications, "
        "tables, Glue artifacts and job). Idempotent: a second run changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--plan", action="store_true", help="Show what would change; change nothing."
        )
        parser.add_argument(
            "--iam-policy",
            action="store_true",
            help="Print the portal role's least-privilege IAM policy (JSON) and exit.",
        )
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["iam_policy"]:
                self.stdout.write(json.dumps(infrastructure_iam_policy(), indent=2))
                return
            result = infrastructure_apply(plan_only=options["plan"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except AwsError as exc:
            raise CommandError(str(exc)) from exc
        counts = result.summary
        if options["json"]:
            body = {
                "applied": result.applied,
                "changes": [
                    {"kind": c.kind, "name": c.name, "action": c.action, "detail": c.detail}
                    for c in result.changes
                ],
                "summary": counts,
                "skipped": {name: list(reasons) for name, reasons in result.skipped},
            }
            self.stdout.write(json.dumps(body, indent=2))
            return
        for change in result.changes:
            self.stdout.write(f"{change.action:<9} {change.kind} {change.name}: {change.detail}")
        for name, reasons in result.skipped:
            reason = "; ".join(reasons)
            self.stderr.write(f"skipped   job {name} (no trigger notification): {reason}")
        if not result.applied:
            self.stdout.write(
                f"{counts['create']} to create, {counts['update']} to update, "
                f"{counts['unchanged']} unchanged"
            )
        else:
            self.stdout.write(
                f"{counts['create']} created, {counts['update']} updated, "
                f"{counts['unchanged']} unchanged"
            )
