"""The permission backend's fast path agrees with Django's own answer in every case."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission, User

from diep_portal.authentication import PermissionBackend

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
