"""manage.py apply_grants FILE [--apply] [--prune]: data grants as code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.exceptions import ApplicationError
from jobs import grants
from jobs.locations import violations


class Command(BaseCommand):
    help = (
        "Compare a grants file (YAML: grants: [{team, location, access, note}]) with the "
        "data grants in DIEP and print the plan; --apply carries it out in one transaction, "
        "--prune also withdraws grants the file does not list."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--apply", action="store_true", help="Carry out the plan.")
        parser.add_argument("--prune", action="store_true", help="Withdraw unlisted grants.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            wanted = grants.read_grants_file(options["path"])
        except grants.GrantsFileInvalid as exc:
            raise CommandError(
                "Invalid grants file, nothing applied:\n  " + "\n  ".join(exc.errors)
            ) from exc
        plan = grants.plan_grants(wanted, prune=options["prune"])
        labels = {"delete": "withdraw", "keep": "not listed (kept; --prune withdraws)"}
        for change in plan:
            self.stdout.write(
                f"{labels.get(change.action, change.action):<10} {change.grant.describe()}"
            )
            for line in change.diff:
                self.stdout.write(f"    {line}")
        counts = {a: sum(c.action == a for c in plan) for a in ("create", "update", "delete")}
        unchanged = sum(c.action == "unchanged" for c in plan)
        self.stdout.write(
            f"{counts['create']} to grant, {counts['update']} to update, "
            f"{counts['delete']} to withdraw, {unchanged} unchanged"
        )
        if not options["apply"]:
            return
        try:
            grants.apply_grants(plan)
        except ApplicationError as exc:
            raise CommandError(f"Nothing applied: {exc.message}") from exc
        self.stdout.write("applied")
        if broken := violations():
            self.stdout.write(
                f"{len(broken)} job(s) now break a location rule and are refused on fire: "
                f"{', '.join(sorted(broken))} (manage.py check_locations)"
            )
