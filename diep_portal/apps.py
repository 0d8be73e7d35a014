"""The admin with DIEP's dashboard as its index, and the project's system checks."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class DiepAdminConfig(AdminConfig):
    default_site = "diep_portal.dashboard.DiepAdminSite"

    def ready(self) -> None:
        super().ready()
        # The project's system checks register on import; this is the project's app.
        from diep_portal import checks  # noqa: F401
