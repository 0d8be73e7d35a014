"""The admin with DIEP's dashboard as its index."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class DiepAdminConfig(AdminConfig):
    default_site = "diep_portal.dashboard.DiepAdminSite"
