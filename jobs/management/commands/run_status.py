"""manage.py run_status <run_id>: a run and its state history."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.exceptions import ApplicationError
from jobs import selectors
from jobs.api.serializers import RunDetailOutputSerializer


class Command(BaseCommand):
    help = "Show a run's state, arguments and events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id")
        parser.add_argument("--json", action="store_true", help="Print the API representation.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = selectors.run_get(options["run_id"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(RunDetailOutputSerializer(run).data, indent=2))
            return
        self.stdout.write(
            f"run       {run.run_id}\njob       {run.job.name} v{run.job_version.version}\n"
            f"state     {run.state}\ntrigger   {run.trigger}\nattempt   {run.attempt}\n"
            f"engine    {run.engine} {run.external_run_id}\n"
            f"queued    {run.queued_at:%Y-%m-%d %H:%M:%S%z}"
        )
        if run.error_message:
            self.stdout.write(f"error     {run.error_message}")
        for event in selectors.run_events(run):
            self.stdout.write(
                f"  {event.at:%Y-%m-%d %H:%M:%S} {event.from_state or '-':>9} → "
                f"{event.to_state:<9} {event.source:<9} {event.message}"
            )
