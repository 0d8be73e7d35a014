"""manage.py check_locations [--suggest]: jobs breaking a data-location rule."""

from __future__ import annotations

from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.locations import JobLocations, violations
from jobs.models import Job


class Command(BaseCommand):
    help = (
        "Report every job whose source, trigger or destination lies outside its team's "
        "data grants or collides with another job (such jobs are refused on fire). Exits 1 "
        "when there are any; --suggest prints a grants file that would cover their "
        "locations, for review (collisions need the job changed, not a grant)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--suggest", action="store_true", help="Print grants covering the jobs' locations."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        broken = violations()
        if options["suggest"]:
            self.stdout.write(_suggestion(sorted(broken)), ending="")
        else:
            for name in sorted(broken):
                self.stdout.write(f"{name}:")
                for problem in broken[name]:
                    self.stdout.write(f"    {problem}")
        if broken:
            raise CommandError(f"{len(broken)} job(s) break a data-location rule.")
        self.stdout.write("every job reads and writes inside its grants")


def _suggestion(names: list[str]) -> str:
    wanted: dict[tuple[str, str], set[str]] = {}
    for job in Job.objects.filter(name__in=names):
        mine = JobLocations.of_job(job)
        for _, read in mine.reads():
            wanted.setdefault((mine.team, str(read)), set()).add("read")
        wanted.setdefault((mine.team, str(mine.destination)), set()).add("write")
    entries = []
    for (team, uri), access in sorted(wanted.items()):
        entry = {"team": team} if team else {}
        entry |= {"location": uri, "access": "-".join(sorted(access, reverse=True))}
        entries.append(entry)
    return yaml.safe_dump({"grants": entries}, sort_keys=False)
