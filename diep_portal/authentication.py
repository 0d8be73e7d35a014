"""Authentication and permission lookups tuned for the request path."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox hashed, expiring tokens, without knox's scan of every other token of the
    user on each request (a service account with many tokens paid for all of them).
    An expired token is still refused and deleted here; expired tokens that are never
    presented again are left for the retention purge."""

    def _cleanup_token(self, auth_token: Any) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class PermissionBackend(ModelBackend):
    """Django's ModelBackend, loading user and group permissions in one query
    instead of two (every API request checks one permission)."""

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
