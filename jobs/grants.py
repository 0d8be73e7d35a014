"""Data grants: which S3 locations each team's jobs may read or write, kept by platform
admins in the admin or as code (`manage.py apply_grants` / `export_grants`, one YAML
file). jobs.locations applies them to jobs; this module only changes them.

A grants file:

    grants:
      - team: sales              # omit (or "") for every team and shared jobs
        location: s3://diep-raw/sales/
        access: read             # read | write | read-write
        note: Sales' drop zone
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from diep_portal.exceptions import ValidationFailed
from diep_portal.parsers import load_document
from jobs.locations import Location, as_folder, portal_location
from jobs.models import DataGrant
from jobs.roles import ROLES
from jobs.validators import validate_bucket_name, validate_key_prefix

logger = logging.getLogger(__name__)

ACCESS = {"read": (True, False), "write": (False, True), "read-write": (True, True)}


def access_of(can_read: bool, can_write: bool) -> str:
    return {value: name for name, value in ACCESS.items()}.get((can_read, can_write), "none")


@dataclass(frozen=True)
class GrantSpec:
    """One grant as data, as the admin form and the grants file give it."""

    team: str
    bucket: str
    prefix: str
    can_read: bool
    can_write: bool
    note: str = ""

    @classmethod
    def of(cls, row: DataGrant) -> GrantSpec:
        return cls(row.team, row.bucket, row.prefix, row.can_read, row.can_write, row.note)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.team, self.bucket, self.prefix)

    @property
    def location(self) -> Location:
        return Location(self.bucket, self.prefix)

    def describe(self) -> str:
        who = self.team or "everyone"
        return f"{who}: {self.location} ({access_of(self.can_read, self.can_write)})"


def grant_problems(grant: GrantSpec) -> dict[str, list[str]]:
    """What is wrong with a grant, by field ({} = nothing)."""
    problems: dict[str, list[str]] = {}
    if grant.team and (grant.team in ROLES or not Group.objects.filter(name=grant.team).exists()):
        problems["team"] = [f"No team named {grant.team!r}."]
    try:
        validate_bucket_name(grant.bucket)
    except DjangoValidationError as exc:
        problems["bucket"] = list(exc.messages)
    try:
        validate_key_prefix(grant.prefix)
    except DjangoValidationError as exc:
        problems["prefix"] = list(exc.messages)
    if grant.prefix.startswith("/"):
        problems.setdefault("prefix", []).append("A key prefix does not start with '/'.")
    if "bucket" not in problems and (reason := portal_location(grant.location)):
        problems["bucket"] = [f"{grant.location} is {reason}: it is never granted."]
    if not (grant.can_read or grant.can_write):
        problems["can_read"] = ["Grant read, write or both."]
    return problems


def normalized(grant: GrantSpec) -> GrantSpec:
    """Prefixes are folders (`sales` grants `sales/…`, never `salesforce/…`)."""
    return GrantSpec(
        team=grant.team.strip(),
        bucket=grant.bucket.strip(),
        prefix=as_folder(grant.prefix.strip()),
        can_read=grant.can_read,
        can_write=grant.can_write,
        note=grant.note.strip(),
    )


def grant_save(grant: GrantSpec, *, user: Any, instance: DataGrant | None = None) -> DataGrant:
    """Create or change a grant (platform admins only: callers check). Raises
    ValidationFailed with field messages."""
    grant = normalized(grant)
    if problems := grant_problems(grant):
        raise ValidationFailed.from_fields(problems, "The grant is not valid.")
    taken = DataGrant.objects.filter(team=grant.team, bucket=grant.bucket, prefix=grant.prefix)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        raise ValidationFailed.from_fields(
            {"prefix": [f"{grant.describe()} is already granted; change that grant instead."]}
        )
    row = instance or DataGrant()
    for name in ("team", "bucket", "prefix", "can_read", "can_write", "note"):
        setattr(row, name, getattr(grant, name))
    row.save()
    logger.info(
        "data grant saved",
        extra={"grant": grant.describe(), "user": getattr(user, "username", None)},
    )
    return row


def grant_delete(row: DataGrant, *, user: Any) -> None:
    """Withdraw a grant. Jobs relying on it are not changed: they are refused on fire
    and reported (`manage.py check_locations`) until granted again or moved."""
    description = str(row)
    row.delete()
    logger.info(
        "data grant withdrawn",
        extra={"grant": description, "user": getattr(user, "username", None)},
    )


# ------------------------------------------------------------------ as code


class GrantsFileInvalid(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def read_grants_file(path: Path) -> list[GrantSpec]:
    """The grants a file describes, validated; raises GrantsFileInvalid naming every bad
    entry (nothing is half-read)."""
    try:
        body = load_document(path.read_text(encoding="utf-8"), as_yaml=True)
    except (OSError, ValueError) as exc:
        raise GrantsFileInvalid([f"{path}: unreadable: {exc}"]) from exc
    entries = body.get("grants") if isinstance(body, dict) else None
    if not isinstance(entries, list) or set(body) != {"grants"}:
        raise GrantsFileInvalid([f"{path}: expected a mapping with one key, 'grants', a list."])
    grants: list[GrantSpec] = []
    errors: list[str] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"grants[{number}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: expected a mapping.")
            continue
        unknown = sorted(set(entry) - {"team", "location", "access", "note"})
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(map(str, unknown))}.")
            continue
        location, access = entry.get("location"), entry.get("access")
        if not isinstance(location, str) or not location.startswith("s3://"):
            errors.append(f"{where}.location: expected s3://bucket/prefix/.")
            continue
        if access not in ACCESS:
            errors.append(f"{where}.access: one of {', '.join(ACCESS)}.")
            continue
        team, note = entry.get("team") or "", entry.get("note") or ""
        if not isinstance(team, str) or not isinstance(note, str):
            errors.append(f"{where}: team and note are text.")
            continue
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        read, write = ACCESS[access]
        grant = normalized(GrantSpec(team, bucket, prefix, read, write, note))
        for name, messages in grant_problems(grant).items():
            errors.extend(f"{where}.{name}: {message}" for message in messages)
        if grant.key in seen:
            first = seen[grant.key]
            errors.append(f"{where}: {grant.location} for {team or 'everyone'} is grants[{first}].")
        seen[grant.key] = number
        grants.append(grant)
    if errors:
        raise GrantsFileInvalid(errors)
    return grants


@dataclass
class GrantChange:
    grant: GrantSpec
    action: str  # create | update | unchanged | delete | keep (not in the file, no --prune)
    diff: list[str] = field(default_factory=list)


def plan_grants(grants: list[GrantSpec], *, prune: bool) -> list[GrantChange]:
    existing = {(row.team, row.bucket, row.prefix): row for row in DataGrant.objects.all()}
    plan = []
    for grant in grants:
        row = existing.pop(grant.key, None)
        if row is None:
            plan.append(GrantChange(grant, "create"))
            continue
        current = GrantSpec.of(row)
        diff = [
            f"{name}: {getattr(current, name)!r} → {getattr(grant, name)!r}"
            for name in ("can_read", "can_write", "note")
            if getattr(current, name) != getattr(grant, name)
        ]
        plan.append(GrantChange(grant, "update" if diff else "unchanged", diff))
    for key in sorted(existing):
        plan.append(GrantChange(GrantSpec.of(existing[key]), "delete" if prune else "keep"))
    return plan


@transaction.atomic
def apply_grants(plan: list[GrantChange], *, user: Any = None) -> None:
    rows = {
        (row.team, row.bucket, row.prefix): row for row in DataGrant.objects.select_for_update()
    }
    for change in plan:
        row = rows.get(change.grant.key)
        if change.action == "create":
            grant_save(change.grant, user=user)
        elif change.action == "update" and row is not None:
            grant_save(change.grant, user=user, instance=row)
        elif change.action == "delete" and row is not None:
            grant_delete(row, user=user)


def export_grants() -> str:
    """Every grant as a grants file (the format apply_grants reads)."""
    entries = []
    for row in DataGrant.objects.order_by("team", "bucket", "prefix"):
        entry: dict[str, str] = {}
        if row.team:
            entry["team"] = row.team
        entry["location"] = f"s3://{row.bucket}/{row.prefix}"
        entry["access"] = access_of(row.can_read, row.can_write)
        if row.note:
            entry["note"] = row.note
        entries.append(entry)
    return yaml.safe_dump({"grants": entries}, sort_keys=False, allow_unicode=True)
