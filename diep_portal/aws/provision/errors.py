"""The one error provisioning raises of its own."""

from __future__ import annotations

from diep_portal.exceptions import ApplicationError


class ProvisionError(ApplicationError):
    """The desired infrastructure cannot be provisioned as asked; nothing was changed."""

    status_code = 409
    default_code = "provision_refused"
