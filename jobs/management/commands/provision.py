"""manage.py provision [--plan] [--iam-policy] [--json]: DIEP's AWS infrastructure."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.aws import provision
from diep_portal.exceptions import ApplicationError, AwsError
from jobs import selectors


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
        triggers = selectors.job_triggers()
        try:
            if options["iam_policy"]:
                policy = provision.iam_policy(
                    trigger_buckets={trigger.bucket for trigger in triggers},
                    glue_job_names=selectors.glue_job_names(),
                )
                self.stdout.write(json.dumps(policy, indent=2))
                return
            desired = provision.desired_infrastructure(triggers=triggers)
            changes = provision.plan(desired) if options["plan"] else provision.apply(desired)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except AwsError as exc:
            raise CommandError(str(exc)) from exc
        counts = provision.summarize(changes)
        if options["json"]:
            body = {
                "applied": not options["plan"],
                "changes": [
                    {"kind": c.kind, "name": c.name, "action": c.action, "detail": c.detail}
                    for c in changes
                ],
                "summary": counts,
            }
            self.stdout.write(json.dumps(body, indent=2))
            return
        for change in changes:
            self.stdout.write(f"{change.action:<9} {change.kind} {change.name}: {change.detail}")
        if options["plan"]:
            self.stdout.write(
                f"{counts['create']} to create, {counts['update']} to update, "
                f"{counts['unchanged']} unchanged"
            )
        else:
            self.stdout.write(
                f"{counts['create']} created, {counts['update']} updated, "
                f"{counts['unchanged']} unchanged"
            )
