"""Data grants in the admin: platform admins grant and withdraw, team members see what
their teams (and everyone) may reach. Every write goes through jobs.grants."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from jobs.grants import GrantSpec, grant_delete, grant_problems, grant_save, normalized
from jobs.models import DataGrant
from jobs.roles import is_platform_admin, user_teams


class DataGrantForm(forms.ModelForm):
    class Meta:
        model = DataGrant
        fields = ["team", "bucket", "prefix", "can_read", "can_write", "note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        grant = normalized(
            GrantSpec(
                team=data.get("team") or "",
                bucket=data.get("bucket") or "",
                prefix=data.get("prefix") or "",
                can_read=bool(data.get("can_read")),
                can_write=bool(data.get("can_write")),
                note=data.get("note") or "",
            )
        )
        for field, messages in grant_problems(grant).items():
            for message in messages:
                self.add_error(field, message)
        data["prefix"] = grant.prefix
        return data


@admin.register(DataGrant)
class DataGrantAdmin(admin.ModelAdmin):
    form = DataGrantForm
    list_display = ["team_display", "location", "can_read", "can_write", "note", "updated_at"]
    list_filter = ["team", "can_read", "can_write"]
    search_fields = ["team", "bucket", "prefix", "note"]

    @admin.display(description="Team", ordering="team")
    def team_display(self, grant: DataGrant) -> str:
        return grant.team or "everyone"

    @admin.display(description="Location", ordering="bucket")
    def location(self, grant: DataGrant) -> str:
        return f"s3://{grant.bucket}/{grant.prefix}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataGrant]:
        grants = super().get_queryset(request)
        if is_platform_admin(request.user):
            return grants
        return grants.filter(Q(team="") | Q(team__in=user_teams(request.user)))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("jobs.view_job"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_platform_admin(request.user)

    def save_model(self, request: HttpRequest, obj: DataGrant, form: Any, change: bool) -> None:
        spec = GrantSpec.of(obj)
        # The form ran the same checks (and the unique constraint) already.
        grant_save(spec, user=request.user, instance=obj if change else None)

    def delete_model(self, request: HttpRequest, obj: DataGrant) -> None:
        grant_delete(obj, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DataGrant]) -> None:
        for grant in queryset:
            grant_delete(grant, user=request.user)
