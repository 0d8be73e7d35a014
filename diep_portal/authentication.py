"""Authentication and permission lookups tuned for the request path."""

from __future__ import annotations

import binascii
from hmac import compare_digest
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox hashed, expiring tokens, found with the user, their groups and their
    permissions in one query (PostgreSQL), so the permission check every API request
    makes costs no round trip of its own; and without knox's scan of every other token of
    the user on each request (a service account with many tokens paid for all of them).
    An expired token is still refused and deleted here; expired tokens that are never
    presented again are left for the retention purge."""

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        invalid = exceptions.AuthenticationFailed(_("Invalid token."))
        try:
            presented = token.decode("utf-8")
        except UnicodeDecodeError:  # not a token knox could have issued
            raise invalid from None
        candidates = get_token_model().objects.filter(
            token_key=presented[: CONSTANTS.TOKEN_KEY_LENGTH]
        )
        for auth_token in candidates.select_related("user").annotate(**_access_annotations()):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(presented)
            except (TypeError, binascii.Error):
                raise invalid from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                _remember_access(auth_token)
                return self.validate_user(auth_token)
        raise invalid

    def _cleanup_token(self, auth_token: Any) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


# Where a user object keeps its group names for the rest of the request.
_GROUP_NAMES = "_diep_group_names"
# The token annotations carrying them, and the user's permissions.
_GROUPS_OF_TOKEN, _PERMISSIONS_OF_TOKEN = "diep_group_names", "diep_permissions"


def _access_tables() -> tuple[str, str, str, str, str, str]:
    """The tables behind a user's access: user-groups, groups, group-permissions,
    user-permissions, permissions, content types."""
    return (
        User.groups.through._meta.db_table,
        Group._meta.db_table,
        Group.permissions.through._meta.db_table,
        User.user_permissions.through._meta.db_table,
        Permission._meta.db_table,
        ContentType._meta.db_table,
    )


def _access_annotations() -> dict[str, RawSQL]:
    """The token's user's group names and permissions ("app_label.codename", through
    groups or held directly), as arrays computed in the token's own query."""
    if connection.vendor != "postgresql":
        return {}
    token = get_token_model()._meta.db_table
    groups, group_table, group_perms, user_perms, perms, types = _access_tables()
    names = (
        f"ARRAY(SELECT g.name FROM {groups} ug JOIN {group_table} g ON g.id = ug.group_id "  # noqa: S608 - table names only
        f"WHERE ug.user_id = {token}.user_id)"
    )
    held = (
        f"ARRAY(SELECT ct.app_label || '.' || p.codename FROM {perms} p "  # noqa: S608 - table names only
        f"JOIN {types} ct ON ct.id = p.content_type_id WHERE p.id IN ("
        f"SELECT gp.permission_id FROM {groups} ug JOIN {group_perms} gp "
        f"ON gp.group_id = ug.group_id WHERE ug.user_id = {token}.user_id "
        f"UNION ALL SELECT up.permission_id FROM {user_perms} up "
        f"WHERE up.user_id = {token}.user_id))"
    )
    return {
        _GROUPS_OF_TOKEN: RawSQL(names, []),  # noqa: S611 - no user input
        _PERMISSIONS_OF_TOKEN: RawSQL(held, []),  # noqa: S611 - no user input
    }


def _remember_access(auth_token: Any) -> None:
    user = auth_token.user
    if hasattr(auth_token, _GROUPS_OF_TOKEN):
        setattr(user, _GROUP_NAMES, frozenset(getattr(auth_token, _GROUPS_OF_TOKEN)))
    if hasattr(auth_token, _PERMISSIONS_OF_TOKEN) and not user.is_superuser:
        # ModelBackend's own cache attribute: what PermissionBackend answers from.
        user._perm_cache = set(getattr(auth_token, _PERMISSIONS_OF_TOKEN))


def group_names(user: Any) -> frozenset[str]:
    """The names of the user's groups (roles and teams), one query per request at
    most: the user object lives as long as the request, and the token's query or the
    permission check (below) fetches them along with their own answer."""
    cached = getattr(user, _GROUP_NAMES, None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) if user.pk else frozenset()
        setattr(user, _GROUP_NAMES, cached)
    return cached


def _has_perm_sql() -> str:
    """(the user's group names, whether they hold the permission): one round trip for
    both questions every API request asks."""
    groups, group_table, group_perms, user_perms, perms, types = _access_tables()
    return (
        f"SELECT ARRAY(SELECT g.name FROM {groups} ug "  # noqa: S608 - table names only
        f"JOIN {group_table} g ON g.id = ug.group_id WHERE ug.user_id = %s), "
        f"EXISTS (SELECT 1 FROM {groups} ug "
        f"JOIN {group_perms} gp ON gp.group_id = ug.group_id "
        f"JOIN {perms} p ON p.id = gp.permission_id "
        f"JOIN {types} ct ON ct.id = p.content_type_id "
        f"WHERE ug.user_id = %s AND p.codename = %s AND ct.app_label = %s) "
        f"OR EXISTS (SELECT 1 FROM {user_perms} up "
        f"JOIN {perms} p ON p.id = up.permission_id "
        f"JOIN {types} ct ON ct.id = p.content_type_id "
        f"WHERE up.user_id = %s AND p.codename = %s AND ct.app_label = %s)"
    )


class PermissionBackend(ModelBackend):
    """Django's ModelBackend with a fast path for the API's single check per request.

    A user authenticated by token arrives with their permissions (above). Otherwise the
    first `has_perm` on a user object answers with one indexed EXISTS query (PostgreSQL);
    a second one (admin pages ask dozens) loads the whole set once, in one query
    instead of ModelBackend's two, and answers from it.
    """

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return False
        if user_obj.is_superuser:
            return True
        if (
            hasattr(user_obj, "_perm_cache")
            or getattr(user_obj, "_diep_perm_checked", False)
            or connection.vendor != "postgresql"
        ):
            return perm in self.get_all_permissions(user_obj)
        user_obj._diep_perm_checked = True
        app_label, _, codename = perm.partition(".")
        with connection.cursor() as cursor:
            cursor.execute(
                _has_perm_sql(),
                [user_obj.pk, user_obj.pk, codename, app_label, user_obj.pk, codename, app_label],
            )
            names, allowed = cursor.fetchone()
        if getattr(user_obj, _GROUP_NAMES, None) is None:
            setattr(user_obj, _GROUP_NAMES, frozenset(names))
        return bool(allowed)

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                permissions = Permission.objects.all()
            else:
                permissions = (
                    Permission.objects.filter(Q(user=user_obj) | Q(group__user=user_obj))
                    .distinct()
                    .order_by()
                )
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                )
            }
        return user_obj._perm_cache


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the API docs describe our token scheme (knox's own extension matches only
    knox's class, not this subclass)."""

    target_class = "diep_portal.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: a hashed, expiring knox token "
            "(`manage.py create_api_token`).",
        }
