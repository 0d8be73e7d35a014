"""The three roles and their permissions, in one place for the migration and for tests."""

from __future__ import annotations

from typing import Any

VIEW = ["view_job", "view_jobversion", "view_jobrun", "view_runevent"]
OPERATE = [*VIEW, "add_job", "change_job", "fire_job", "stop_run", "retry_run"]
ADMIN = [*OPERATE, "delete_job"]
ROLES: dict[str, list[str]] = {"viewer": VIEW, "operator": OPERATE, "admin": ADMIN}


def ensure_roles(group_model: Any, permission_model: Any) -> None:
    """Create the role groups and grant their permissions (idempotent).

    Takes the models as arguments so a migration can pass its historical ones.
    """
    for role, codenames in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.add(
            *permission_model.objects.filter(content_type__app_label="jobs", codename__in=codenames)
        )
