"""Which S3 data a job may touch: the rule behind every job save, fire and event route.

Admins grant teams S3 locations (DataGrant rows: a bucket and a key prefix, readable
and/or writable; team "" grants to every team and to shared jobs). A job reads its
source and trigger only inside its team's readable locations and writes its destination
only inside a writable one; the portal's own objects are nobody's source or
destination; and no destination may feed a trigger or source (a loop) or share ground
with an overwriting destination (one job's overwrite would delete the other's data).

`Location` is pure; `location_problems` judges one job against the grants and the
other jobs and says what is wrong in words the job's own team may read: another team's
job is "another job", never named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Q
from django.db.models.expressions import RawSQL

from etl.publish import TEMP_DIR
from jobs.models import DataGrant, Job, WriteMode


@dataclass(frozen=True)
class Location:
    """Keys of `bucket` starting with `prefix` ("" = the whole bucket)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def of_uri(cls, uri: str) -> Location:
        """A source or destination URI names a folder: `s3://b/cur` means the keys under
        `cur/` (as the ETL reads and writes it), never `curated/`."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        return cls(bucket, as_folder(prefix))

    def contains(self, other: Location) -> bool:
        return self.bucket == other.bucket and other.prefix.startswith(self.prefix)

    def overlaps(self, other: Location) -> bool:
        """Some key lies in both."""
        return self.contains(other) or other.contains(self)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def as_folder(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def portal_location(location: Location, *, writing: bool = False) -> str | None:
    """Why `location` is the portal's own ground (None when it is not): the artifacts
    bucket holds the Glue script and library, job specs, manifests and run metrics every
    team's runs depend on; `_diep_tmp/` is where runs stage output before publishing, so
    a destination may not hold it either (an overwrite of the whole bucket would delete
    other runs' staged output)."""
    if location.bucket == settings.DIEP_ARTIFACTS_BUCKET:
        return "the portal's artifacts bucket (scripts, specs, manifests, metrics)"
    temp = f"{TEMP_DIR}/"
    if location.prefix.startswith(temp) or (
        temp.startswith(location.prefix) and (location.prefix or writing)
    ):
        return f"the portal's staging prefix {TEMP_DIR}/"
    return None


@dataclass(frozen=True)
class Grants:
    """The grants in force, loaded once for a batch of checks."""

    rows: tuple[tuple[str, Location, bool, bool], ...]

    @classmethod
    def load(cls, teams: Iterable[str] | None = None) -> Grants:
        query = DataGrant.objects.all()
        if teams is not None:
            query = query.filter(team__in={"", *teams})
        fields = ("team", "bucket", "prefix", "can_read", "can_write")
        return cls(
            tuple(
                (team, Location(bucket, prefix), read, write)
                for team, bucket, prefix, read, write in query.values_list(*fields)
            )
        )

    def allows(self, team: str, location: Location, *, write: bool) -> bool:
        """Whether `team`'s jobs ("" = shared jobs) may read (or write) all of `location`."""
        return any(
            grant_team in {"", team}
            and (can_write if write else can_read)
            and granted.contains(location)
            for grant_team, granted, can_read, can_write in self.rows
        )

    def readable_buckets(self) -> list[str]:
        return sorted({granted.bucket for _, granted, can_read, _ in self.rows if can_read})

    def statements(self) -> list[tuple[Location, bool, bool]]:
        """Every granted location with whether anyone may read / write it (IAM)."""
        merged: dict[Location, tuple[bool, bool]] = {}
        for _, granted, can_read, can_write in self.rows:
            read, write = merged.get(granted, (False, False))
            merged[granted] = (read or can_read, write or can_write)
        return [(loc, read, write) for loc, (read, write) in sorted(merged.items(), key=str)]


@dataclass(frozen=True)
class JobLocations:
    """What a job reads (source, trigger) and writes (destination)."""

    name: str
    team: str
    source: Location
    destination: Location
    overwrites: bool
    trigger: Location | None  # a raw key prefix: "orders" also fires on "orders2026.csv"

    @classmethod
    def of_spec(cls, spec: Mapping[str, Any]) -> JobLocations:
        trigger = spec.get("trigger")
        return cls(
            name=spec["name"],
            team=spec.get("team", ""),
            source=Location.of_uri(spec["source"]["uri"]),
            destination=Location.of_uri(spec["destination"]["uri"]),
            overwrites=spec["destination"].get("mode") == WriteMode.OVERWRITE,
            trigger=Location(trigger["bucket"], trigger.get("prefix", "")) if trigger else None,
        )

    @classmethod
    def of_job(cls, job: Job) -> JobLocations:
        return cls(
            name=job.name,
            team=job.team,
            source=Location.of_uri(job.source_uri),
            destination=Location.of_uri(job.destination_uri),
            overwrites=job.destination_mode == WriteMode.OVERWRITE,
            trigger=(
                Location(job.trigger_bucket, job.trigger_prefix) if job.trigger_bucket else None
            ),
        )

    def reads(self) -> list[tuple[str, Location]]:
        return [("source.uri", self.source)] + (
            [("trigger.prefix", self.trigger)] if self.trigger else []
        )


LOCATION_FIELDS = (
    "name",
    "team",
    "source_uri",
    "destination_uri",
    "destination_mode",
    "trigger_bucket",
    "trigger_prefix",
)


def _uris_overlapping(field: str, location: Location) -> Q:
    """Rows whose URI `field` names a folder that may overlap `location` (a superset:
    Location.overlaps decides): URIs under it, and the folders above it, spelled with or
    without their trailing slash."""
    base = f"s3://{location.bucket}"
    above = {base, f"{base}/"}
    for index, char in enumerate(location.prefix):
        if char == "/":
            above |= {f"{base}/{location.prefix[:index]}", f"{base}/{location.prefix[: index + 1]}"}
    return Q(**{f"{field}__startswith": f"{base}/{location.prefix}"}) | Q(**{f"{field}__in": above})


def _triggers_overlapping(location: Location) -> Q:
    """Rows whose trigger (a raw key prefix) may overlap `location`."""
    above = [location.prefix[:index] for index in range(len(location.prefix) + 1)]
    return Q(trigger_bucket=location.bucket) & (
        Q(trigger_prefix__startswith=location.prefix) | Q(trigger_prefix__in=above)
    )


def _neighbours(mine: JobLocations, exclude_pk: int | None) -> list[JobLocations]:
    """The other jobs whose locations may collide with this one's (one indexed query, not
    every job of the bucket: creating the 10,000th job stays as cheap as the first)."""
    shared_destination = _uris_overlapping("destination_uri", mine.destination)
    if not mine.overwrites:
        # Appending jobs may share a destination; only an overwriting one collides. (A
        # hundred jobs appending to one table would otherwise each load all the others.)
        shared_destination &= Q(destination_mode=WriteMode.OVERWRITE)
    collides = (
        _uris_overlapping("source_uri", mine.destination)
        | _triggers_overlapping(mine.destination)
        | shared_destination
    )
    for _, location in mine.reads():
        collides |= _uris_overlapping("destination_uri", location)
    others = Job.objects.filter(collides).only(*LOCATION_FIELDS)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return [JobLocations.of_job(job) for job in others]


def location_problems(
    mine: JobLocations,
    *,
    grants: Grants | None = None,
    others: Iterable[JobLocations] | None = None,
    exclude_pk: int | None = None,
    may_name: Callable[[str], bool] = lambda team: True,
) -> dict[str, list[str]]:
    """What is wrong with where `mine` reads and writes, by spec path ({} = nothing).

    `may_name(team)` says whether the reader may learn the names of that team's jobs.
    """
    grants = grants if grants is not None else Grants.load([mine.team])
    others = list(others) if others is not None else _neighbours(mine, exclude_pk)
    whose = f"team {mine.team!r}" if mine.team else "shared jobs (granted to everyone)"
    problems: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        problems.setdefault(path, []).append(message)

    for path, location, writing in [
        *((path, location, False) for path, location in mine.reads()),
        ("destination.uri", mine.destination, True),
    ]:
        if reason := portal_location(location, writing=writing):
            add(path, f"{location} is {reason}; no job reads or writes there.")
    for path, location in mine.reads():
        if not grants.allows(mine.team, location, write=False):
            add(path, f"{location} is not in a location {whose} may read.")
    if not grants.allows(mine.team, mine.destination, write=True):
        add("destination.uri", f"{mine.destination} is not in a location {whose} may write.")

    def noun(path: str) -> str:
        return path.partition(".")[0]

    for what, location in mine.reads():
        if mine.destination.overlaps(location):
            add(
                "destination.uri",
                f"{mine.destination} overlaps the job's own {noun(what)} {location}: "
                "it would read its own output again.",
            )
    for other in others:
        label = f"job {other.name!r}" if may_name(other.team) else "another job"
        for what, location in other.reads():
            if mine.destination.overlaps(location):
                add(
                    "destination.uri",
                    f"{mine.destination} overlaps the {noun(what)} of {label} ({location}): "
                    "what this job writes would be ingested again.",
                )
        for path, location in mine.reads():
            if other.destination.overlaps(location):
                add(
                    path,
                    f"{location} overlaps the destination of {label}: "
                    "this job would ingest that job's output.",
                )
        if (mine.overwrites or other.overwrites) and mine.destination.overlaps(other.destination):
            add(
                "destination.uri",
                f"{mine.destination} overlaps the destination of {label}, and one of the two "
                "overwrites: a run of one would delete the other's data.",
            )
    return problems


# The attribute a job read with `revision_annotation()` carries its revision in.
REVISION = "locations_revision"
# Jobs whose locations passed, with the revision they passed at: firing a job asks
# again only once a grant or another job changed. Bounded; cleared when full.
_passed: dict[tuple[int, JobLocations], str] = {}
_PASSED_MAX = 50_000


def revision_annotation() -> dict[str, RawSQL]:
    """An annotation for the query that loads (and locks) a job to fire: a value that
    changes whenever anything `location_problems` reads may have changed, computed in
    that same round trip. Grants: their count, latest change and (PostgreSQL) row
    versions. Jobs: the latest change, from an index; a deleted job only removes
    problems, and only passing verdicts are remembered."""
    grants, jobs = DataGrant._meta.db_table, Job._meta.db_table
    latest = "coalesce(CAST(max(updated_at) AS TEXT), '')"
    # xmin sees every committed write, even one that bypassed updated_at.
    versions = " || ':' || coalesce(sum(xmin::text::bigint), 0)"
    grants_sql = (
        f"SELECT count(*) || ':' || {latest}"  # noqa: S608 - names from the models
        f"{versions if connection.vendor == 'postgresql' else ''} FROM {grants}"
    )
    sql = f"({grants_sql}) || '/' || (SELECT {latest} FROM {jobs})"  # noqa: S608
    return {REVISION: RawSQL(sql, [], output_field=CharField())}  # noqa: S611 - no user input


def job_location_problems(job: Job) -> list[str]:
    """The job's location problems as sentences (for fire refusals and the report).

    A job loaded with `revision_annotation()` that passed at the same revision before
    is not judged again: the two queries and the rule walk are most of what firing a
    run would otherwise cost.
    """
    mine = JobLocations.of_job(job)
    revision = getattr(job, REVISION, None)
    key = (job.pk, mine)
    if revision is not None and _passed.get(key) == revision:
        return []
    # Whoever fires it, the refusal names only the job's own team's jobs.
    problems = location_problems(mine, exclude_pk=job.pk, may_name=lambda team: team == mine.team)
    if revision is not None and not problems:
        if len(_passed) >= _PASSED_MAX:
            _passed.clear()
        _passed[key] = revision
    return [message for messages in problems.values() for message in messages]


def violations(
    *, teams: Iterable[str] | None = None, may_name: Callable[[str], bool] = lambda team: True
) -> dict[str, list[str]]:
    """Every job breaking a location rule (`teams`: only jobs of those teams, "" for
    shared ones), by job name: for the report, the admin and provisioning, in two queries
    however many jobs there are."""
    teams = set(teams) if teams is not None else None
    everyone = [JobLocations.of_job(job) for job in Job.objects.only(*LOCATION_FIELDS)]
    grants = Grants.load()
    found: dict[str, list[str]] = {}
    for index, mine in enumerate(everyone):
        if teams is not None and mine.team not in teams:
            continue
        others = everyone[:index] + everyone[index + 1 :]
        problems = location_problems(mine, grants=grants, others=others, may_name=may_name)
        if problems:
            found[mine.name] = [message for messages in problems.values() for message in messages]
    return found
