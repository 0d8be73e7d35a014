"""The three roles and their permissions, in one place for the migration and for tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User as AuthUser

from diep_portal.authentication import group_names

# "app_label.codename"; the file ledger is read by whoever reads the jobs (team-scoped).
VIEW = [
    "jobs.view_job",
    "jobs.view_jobversion",
    "jobs.view_jobrun",
    "jobs.view_runevent",
    "ingestion.view_ingestedfile",
]
OPERATE = [
    *VIEW,
    "jobs.add_job",
    "jobs.change_job",
    "jobs.fire_job",
    "jobs.stop_run",
    "jobs.retry_run",
]
ADMIN = [*OPERATE, "jobs.delete_job"]
ROLES: dict[str, list[str]] = {"viewer": VIEW, "operator": OPERATE, "admin": ADMIN}


def ensure_roles(group_model: Any, permission_model: Any) -> None:
    """Create the role groups and grant their permissions (idempotent; permissions of apps
    not migrated yet are granted by a later run, see ingestion's migration 0004).

    Takes the models as arguments so a migration can pass its historical ones.
    """
    wanted = {_app_and_codename(name) for names in ROLES.values() for name in names}
    found = {
        (permission.content_type.app_label, permission.codename): permission
        for permission in permission_model.objects.select_related("content_type").filter(
            content_type__app_label__in={app for app, _ in wanted},
            codename__in={codename for _, codename in wanted},
        )
    }
    for role, names in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=role)
        keys = [_app_and_codename(name) for name in names]
        group.permissions.add(*(found[key] for key in keys if key in found))


def _app_and_codename(permission: str) -> tuple[str, str]:
    app_label, codename = permission.split(".")
    return app_label, codename


def ensure_roles_in_migration(apps: Any) -> None:
    """ensure_roles from a migration, with its historical models."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; the roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def is_platform_admin(user: Any) -> bool:
    """Superusers and the admin role see and act on every team's jobs."""
    return bool(user.is_superuser or "admin" in group_names(user))


def user_teams(user: Any) -> set[str]:
    """The teams a user belongs to: their groups other than the roles."""
    return set(group_names(user) - set(ROLES))


def may_see_team(user: Any, team: str) -> bool:
    """Whether `user` may see a team's jobs (by name, too); internal callers (None) may."""
    return user is None or not team or is_platform_admin(user) or team in user_teams(user)


def team_for_job(user: Any, requested: str, *, current: str | None = None) -> str:
    """The team a job created or changed by `user` belongs to; raises ValueError with the
    reason when the user may not give the job to that team. Without a request, a new
    job goes to the user's only team (or is shared when they have none or several); an
    existing job (`current`: its team) changes team only by a platform admin's hand."""
    if is_platform_admin(user):
        return requested
    if current is not None and requested != current:
        # Moving a job (a shared one too) would lock its team out of it: admins decide.
        raise ValueError("Only platform admins move a job to another team.")
    teams = user_teams(user)
    if not requested and current is None and len(teams) == 1:
        return next(iter(teams))
    if requested and requested not in teams:
        raise ValueError(
            f"You can only give jobs to your own teams ({', '.join(sorted(teams)) or 'none'})."
        )
    return requested


def author_of(user: Any) -> AuthUser | None:
    """The user to record as author or actor, or None for anonymous and system actions."""
    return user if isinstance(user, AuthUser) and user.is_authenticated else None
