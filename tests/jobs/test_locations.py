"""The data-location rule, as pure logic: grants and other jobs given, nothing loaded."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.locations import Grants, JobLocations, Location, location_problems, portal_location


def grants(*rows: tuple[str, str, str, bool, bool]) -> Grants:
    return Grants(tuple((team, Location(b, p), r, w) for team, b, p, r, w in rows))


def job(
    name: str = "mine",
    team: str = "sales",
    source: str = "s3://raw/sales/",
    destination: str = "s3://cur/sales/",
    overwrites: bool = False,
    trigger: tuple[str, str] | None = ("raw", "sales/"),
) -> JobLocations:
    return JobLocations(
        name=name,
        team=team,
        source=Location.of_uri(source),
        destination=Location.of_uri(destination),
        overwrites=overwrites,
        trigger=Location(*trigger) if trigger else None,
    )


SALES = grants(("sales", "raw", "sales/", True, False), ("sales", "cur", "sales/", False, True))


def problems(mine: JobLocations, *others: JobLocations, **kwargs: Any) -> dict[str, list[str]]:
    return location_problems(mine, grants=kwargs.pop("granted", SALES), others=others, **kwargs)


def test_locations_are_folders() -> None:
    assert Location.of_uri("s3://b/cur") == Location("b", "cur/")
    assert Location.of_uri("s3://b") == Location("b", "")
    assert Location("b", "cur/").contains(Location("b", "cur/x/"))
    assert not Location("b", "cur/").contains(Location("b", "curated/"))
    assert Location("b", "").overlaps(Location("b", "any/"))
    assert not Location("a", "").overlaps(Location("b", ""))


def test_a_job_inside_its_grants_has_no_problems() -> None:
    assert problems(job()) == {}


def test_reading_outside_the_read_grants_is_refused_field_by_field() -> None:
    found = problems(job(source="s3://raw/finance/", trigger=("raw", "finance/")))
    assert found == {
        "source.uri": ["s3://raw/finance/ is not in a location team 'sales' may read."],
        "trigger.prefix": ["s3://raw/finance/ is not in a location team 'sales' may read."],
    }


def test_a_trigger_prefix_is_a_raw_key_prefix() -> None:
    # "sales" (no slash) would also fire on "sales-archive/…", outside the grant.
    found = problems(job(trigger=("raw", "sales")))
    assert list(found) == ["trigger.prefix"]


def test_write_needs_a_write_grant_and_read_grants_do_not_give_it() -> None:
    found = problems(job(destination="s3://raw/sales/out/"))
    assert (
        "s3://raw/sales/out/ is not in a location team 'sales' may write."
        in found["destination.uri"]
    )


def test_another_teams_grants_do_not_count() -> None:
    assert problems(job(team="finance"))["source.uri"] == [
        "s3://raw/sales/ is not in a location team 'finance' may read."
    ]


def test_shared_jobs_use_only_grants_to_everyone() -> None:
    assert "source.uri" in problems(job(team=""))
    everyone = grants(("", "raw", "", True, False), ("", "cur", "", False, True))
    assert problems(job(team=""), granted=everyone) == {}
    assert problems(job(team="sales"), granted=everyone) == {}  # everyone includes sales


@pytest.mark.parametrize(
    "destination",
    ["s3://diep-artifacts/glue/", "s3://diep-artifacts/manifests/", "s3://cur/_diep_tmp/x/"],
)
def test_the_portals_own_ground_is_never_a_destination(destination: str) -> None:
    granted = grants(("", "diep-artifacts", "", True, True), ("", "cur", "", True, True))
    found = problems(job(destination=destination, overwrites=True), granted=granted)
    assert any("the portal's" in message for message in found["destination.uri"])


def test_portal_location_knows_the_artifacts_bucket_and_staging(settings: Any) -> None:
    settings.DIEP_ARTIFACTS_BUCKET = "my-artifacts"
    assert portal_location(Location("my-artifacts", "")) is not None
    assert portal_location(Location("cur", "_diep_tmp/")) is not None
    # A whole bucket holds the staging prefix: readable (readers skip "_" folders), not
    # writable (an overwrite would delete other runs' staged output).
    assert portal_location(Location("cur", "")) is None
    assert portal_location(Location("cur", ""), writing=True) is not None
    assert portal_location(Location("cur", "sales/")) is None


def test_a_destination_feeding_its_own_source_is_a_loop() -> None:
    granted = grants(("sales", "raw", "sales/", True, True))
    found = problems(job(destination="s3://raw/sales/out/", trigger=None), granted=granted)
    assert found["destination.uri"] == [
        "s3://raw/sales/out/ overlaps the job's own source s3://raw/sales/: "
        "it would read its own output again."
    ]


def test_a_destination_feeding_another_jobs_trigger_or_source_is_refused() -> None:
    everyone = grants(("", "raw", "", True, True), ("", "cur", "", True, True))
    reader = job(name="reader", team="sales", source="s3://cur/x/", trigger=("cur", "sales/in"))
    found = problems(job(destination="s3://cur/sales/"), reader, granted=everyone)
    assert found["destination.uri"] == [
        "s3://cur/sales/ overlaps the trigger of job 'reader' (s3://cur/sales/in): "
        "what this job writes would be ingested again."
    ]


def test_reading_another_jobs_output_is_refused() -> None:
    everyone = grants(("", "raw", "", True, True), ("", "cur", "", True, True))
    writer = job(
        name="writer", source="s3://raw/other/", destination="s3://raw/sales/", trigger=None
    )
    found = problems(job(), writer, granted=everyone)
    assert set(found) == {"source.uri", "trigger.prefix"}


def test_overwrite_may_not_share_ground_with_another_destination() -> None:
    everyone = grants(("", "raw", "", True, False), ("", "cur", "", False, True))
    neighbour = job(name="neighbour", destination="s3://cur/sales/eu/", trigger=None)
    assert problems(job(overwrites=False), neighbour, granted=everyone) == {}  # both append
    found = problems(job(overwrites=True), neighbour, granted=everyone)
    assert "one of the two overwrites" in found["destination.uri"][0]
    found = problems(job(), job(name="n", overwrites=True, trigger=None), granted=everyone)
    assert "one of the two overwrites" in found["destination.uri"][0]


def test_other_teams_jobs_are_never_named() -> None:
    everyone = grants(("", "raw", "", True, True), ("", "cur", "", True, True))
    secret = job(name="finance-secret", team="finance", destination="s3://cur/sales/", trigger=None)
    mine = job(destination="s3://cur/sales/", overwrites=True)
    found = problems(mine, secret, granted=everyone, may_name=lambda team: team == "sales")
    text = " ".join(found["destination.uri"])
    assert "another job" in text
    assert "finance-secret" not in text
