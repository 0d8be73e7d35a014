"""manage.py fire_job <jobid> [--param KEY=VALUE ...] [--wait]."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from diep_portal.exceptions import ApplicationError
from jobs import selectors, services
from jobs.models import TERMINAL_STATES, FireSource, RunState
from jobs.specs import error_lines


def parse_param(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition("=")
    if not sep or not name:
        raise CommandError(f"--param expects KEY=VALUE, got {raw!r}")
    return name, value


class Command(BaseCommand):
    help = "Fire a job (by UUID or name). Prints the run id; --wait follows it to the end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job", help="Job UUID or name.")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--idempotency-key", default=None)
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait for a terminal state; exit 1 unless it SUCCEEDED.",
        )
        parser.add_argument(
            "--timeout",
            type=int,
            default=settings.DIEP_RUN_WAIT_TIMEOUT_SECONDS,
            help="Seconds --wait follows the run before giving up (exit 2).",
        )
        parser.add_argument("--poll-interval", type=float, default=2.0)

    def handle(self, *args: Any, **options: Any) -> None:
        parameters = dict(parse_param(raw) for raw in options["param"])
        try:
            result = services.job_fire(
                job=selectors.job_get(options["job"]),
                parameters=parameters,
                trigger=FireSource.CLI,
                idempotency_key=options["idempotency_key"],
            )
        except ApplicationError as exc:
            details = error_lines(exc.extra.get("fields", {}))
            raise CommandError("\n  ".join([exc.message, *details])) from exc
        run = result.run
        self.stdout.write(str(run.run_id))
        if not options["wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        last_state = ""
        while True:
            run.refresh_from_db(fields=["state", "error_message", "external_run_id"])
            if run.state != last_state:
                self.stderr.write(f"{run.state} {run.external_run_id}".rstrip())
                last_state = run.state
            if run.state in TERMINAL_STATES:
                break
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Run {run.run_id} still {run.state} after {options['timeout']} s.",
                    returncode=2,
                )
            time.sleep(options["poll_interval"])
        if run.state != RunState.SUCCEEDED:
            raise CommandError(f"Run {run.run_id} ended {run.state}: {run.error_message}")
