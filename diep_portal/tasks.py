"""Project-level tasks: provisioning the AWS infrastructure the jobs need."""

from __future__ import annotations

from diep_portal.celery import Queue, diep_task
from diep_portal.exceptions import TransientAwsError
from diep_portal.infrastructure import infrastructure_apply
from diep_portal.locks import single_flight


@diep_task(
    name="diep.provision_infrastructure",
    queue=Queue.MAINTENANCE,
    retry_on=(TransientAwsError,),
    max_retries=8,
    bind=True,
)
def provision_infrastructure(self) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Apply the infrastructure the jobs need (DIEP_AUTO_PROVISION, after a trigger
    change). One at a time: bucket notifications are read-modify-written, and two
    concurrent writers would lose one's change, so a second request waits its turn."""
    with single_flight("diep.provision_infrastructure", timeout_seconds=300) as mine:
        if not mine:
            raise self.retry(countdown=5)
        return infrastructure_apply().summary
