"""The permission backend's fast path agrees with Django's own answer in every case."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from diep_portal.authentication import PermissionBackend, TokenAuthentication, _access_annotations

pytestmark = pytest.mark.django_db

PERMS = ["jobs.fire_job", "jobs.view_job", "jobs.delete_job", "jobs.stop_run", "auth.add_user"]


def fresh(user: Any) -> Any:
    return User.objects.get(pk=user.pk)  # no permission caches


@pytest.mark.parametrize("perm", PERMS)
def test_first_check_matches_model_backend(viewer: Any, operator: Any, admin_user: Any,
                                           nobody: Any, perm: str) -> None:  # fmt: skip
    direct = User.objects.create_user("direct")
    direct.user_permissions.add(Permission.objects.get(codename="delete_job"))
    for user in (viewer, operator, admin_user, nobody, direct):
        expected = ModelBackend().has_perm(fresh(user), perm)
        assert PermissionBackend().has_perm(fresh(user), perm) == expected, (user, perm)


def test_repeated_checks_use_the_loaded_set(operator: Any, django_assert_num_queries: Any) -> None:
    user = fresh(operator)
    backend = PermissionBackend()
    with django_assert_num_queries(1):
        assert backend.has_perm(user, "jobs.fire_job")
    with django_assert_num_queries(1):
        assert backend.has_perm(user, "jobs.view_job")
    with django_assert_num_queries(0):
        assert not backend.has_perm(user, "jobs.delete_job")
        assert backend.has_perm(user, "jobs.stop_run")


def test_inactive_users_have_no_permissions(operator: Any) -> None:
    operator.is_active = False
    operator.save()
    assert not PermissionBackend().has_perm(fresh(operator), "jobs.view_job")
    assert PermissionBackend().get_all_permissions(fresh(operator)) == set()


def test_a_token_brings_its_users_permissions_and_groups(
    operator: Any, client_for: Any, make_job: Any
) -> None:
    """The token's query answers the permission check and the team lookup: an API
    request asks the database about the caller once."""
    make_job()
    api = client_for(operator)
    with CaptureQueriesContext(connection) as captured:
        assert api.get("/api/v1/jobs/").status_code == 200
    about_caller = [
        q["sql"]
        for q in captured.captured_queries
        if "auth_permission" in q["sql"] or "auth_user_groups" in q["sql"]
    ]
    assert len(about_caller) == 1, about_caller
    assert "knox_authtoken" in about_caller[0]


@pytest.mark.parametrize("perm", PERMS)
def test_the_tokens_permissions_match_model_backend(
    viewer: Any, operator: Any, admin_user: Any, perm: str
) -> None:
    for user in (viewer, operator, admin_user):
        _, token = AuthToken.objects.create(user=user)
        authenticated, _ = TokenAuthentication().authenticate_credentials(token.encode())
        expected = ModelBackend().has_perm(fresh(user), perm)
        assert PermissionBackend().has_perm(authenticated, perm) == expected, (user, perm)


def test_a_token_that_is_not_utf8_is_refused_not_a_crash(api: Any) -> None:
    api.credentials(HTTP_AUTHORIZATION="Token \\xff\\xfe\\xfd")
    response = api.get("/api/v1/jobs/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_without_postgresql_the_answers_come_from_the_portable_queries(
    operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite (the embedded stack) has no ARRAY(): every check uses the ORM's queries."""
    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert _access_annotations() == {}
    assert PermissionBackend().has_perm(fresh(operator), "jobs.fire_job")
    assert not PermissionBackend().has_perm(fresh(operator), "auth.add_user")
