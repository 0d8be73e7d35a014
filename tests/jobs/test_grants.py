"""Data grants: validation, grants as code (plan, apply, prune, export) and the admin,
where only platform admins change them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from diep_portal.exceptions import ValidationFailed
from jobs.grants import GrantSpec, grant_problems, grant_save, read_grants_file
from jobs.models import DataGrant
from tests.conftest import _user_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales(db: None) -> Group:
    DataGrant.objects.all().delete()
    return Group.objects.create(name="sales")


def test_grant_problems_by_field(sales: Group) -> None:
    assert grant_problems(GrantSpec("sales", "raw", "sales/", True, False)) == {}
    found = grant_problems(GrantSpec("nobody", "Bad_Bucket", "a/../b", False, False))
    assert set(found) == {"team", "bucket", "prefix", "can_read"}
    assert grant_problems(GrantSpec("operator", "raw", "", True, False))["team"]  # a role
    portal = grant_problems(GrantSpec("", "diep-artifacts", "", True, True))
    assert "never granted" in portal["bucket"][0]
    staging = grant_problems(GrantSpec("", "raw", "_diep_tmp/", True, True))
    assert "staging" in staging["bucket"][0]


def test_prefixes_are_saved_as_folders_and_locations_granted_once(sales: Group) -> None:
    grant = grant_save(GrantSpec("sales", "raw", "sales", True, False), user=None)
    assert grant.prefix == "sales/"
    with pytest.raises(ValidationFailed) as info:
        grant_save(GrantSpec("sales", "raw", "sales/", True, True), user=None)
    assert "already granted" in info.value.extra["fields"]["prefix"][0]


GRANTS_FILE = """\
grants:
  - team: sales
    location: s3://raw/sales/
    access: read
    note: drop zone
  - location: s3://curated/shared
    access: read-write
"""


def test_grants_as_code_plan_apply_prune_and_export(sales: Group, tmp_path: Path) -> None:
    path = tmp_path / "grants.yaml"
    path.write_text(GRANTS_FILE)
    DataGrant.objects.create(team="sales", bucket="old", prefix="", can_read=True)

    out = io.StringIO()
    call_command("apply_grants", str(path), stdout=out)
    assert "2 to grant, 0 to update, 0 to withdraw, 0 unchanged" in out.getvalue()
    assert DataGrant.objects.count() == 1  # a plan changes nothing

    call_command("apply_grants", str(path), "--apply", "--prune", stdout=io.StringIO())
    rows = DataGrant.objects.values_list("team", "bucket", "prefix", "can_read", "can_write")
    assert sorted(rows) == [
        ("", "curated", "shared/", True, True),
        ("sales", "raw", "sales/", True, False),
    ]

    again = io.StringIO()
    call_command("apply_grants", str(path), "--prune", stdout=again)
    assert "0 to grant, 0 to update, 0 to withdraw, 2 unchanged" in again.getvalue()

    exported = io.StringIO()
    call_command("export_grants", stdout=exported)
    (tmp_path / "exported.yaml").write_text(exported.getvalue())
    exported_grants = read_grants_file(tmp_path / "exported.yaml")
    assert sorted(exported_grants, key=str) == sorted(read_grants_file(path), key=str)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grants: [{location: 's3://raw/', access: all}]", "grants[1].access"),
        ("grants: [{location: 'raw/x', access: read}]", "grants[1].location"),
        ("grants: [{location: 's3://raw/', access: read, tean: x}]", "unknown field(s) tean"),
        ("grants: [{team: ghosts, location: 's3://raw/', access: read}]", "No team named"),
        (
            "grants: [{location: 's3://raw/a', access: read},"
            " {location: 's3://raw/a/', access: write}]",
            "is grants[1]",
        ),
        ("jobs: []", "one key, 'grants'"),
        ('grants: [{location: "s3://raw/\\ud800", access: read}]', "grants[0].location"),
    ],
)
def test_a_bad_grants_file_applies_nothing(
    sales: Group, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "grants.yaml"
    path.write_text(text)
    with pytest.raises(CommandError, match="nothing applied") as info:
        call_command("apply_grants", str(path), "--apply", stdout=io.StringIO())
    assert message in str(info.value)
    assert not DataGrant.objects.exists()


def test_only_platform_admins_change_grants_in_the_admin(sales: Group) -> None:
    DataGrant.objects.create(team="sales", bucket="raw", prefix="sales/")
    DataGrant.objects.create(team="", bucket="shared", prefix="")
    DataGrant.objects.create(team="finance", bucket="raw", prefix="finance/")
    operator = _user_in("operator", "op", is_staff=True)
    operator.groups.add(sales)
    admin = _user_in("admin", "boss", is_staff=True)
    as_operator, as_admin = Client(), Client()
    as_operator.force_login(operator)
    as_admin.force_login(admin)

    listing = as_operator.get("/admin/jobs/datagrant/").content.decode()
    assert "s3://raw/sales/" in listing
    assert "s3://shared/" in listing
    assert "s3://raw/finance/" not in listing  # another team's grants are not theirs to see
    form = {"team": "sales", "bucket": "raw", "prefix": "finance", "can_read": "on", "note": ""}
    assert as_operator.post("/admin/jobs/datagrant/add/", form).status_code == 403
    assert not DataGrant.objects.filter(prefix="finance/", team="sales").exists()

    added = as_admin.post("/admin/jobs/datagrant/add/", form)
    assert added.status_code == 302
    assert DataGrant.objects.filter(team="sales", bucket="raw", prefix="finance/").exists()
    bad = as_admin.post("/admin/jobs/datagrant/add/", {**form, "bucket": "diep-artifacts"})
    assert bad.status_code == 200
    assert "never granted" in bad.content.decode()
