"""AWS Glue engine: StartJobRun with the run's rendered arguments."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from diep_portal.aws.glue import glue_batch_stop_job_run, glue_start_job_run
from diep_portal.exceptions import PermanentAwsError
from jobs.engines.base import EngineStart

if TYPE_CHECKING:
    from jobs.models import JobRun

logger = logging.getLogger(__name__)


class GlueEngine:
    """Runs a job as an AWS Glue job run; the run id travels as `--diep_run_id`."""

    name = "glue"

    def start(self, run: JobRun) -> EngineStart:
        started = glue_start_job_run(
            job_name=run.job.glue_job_name,
            arguments=dict(run.arguments),
            timeout_minutes=run.job.timeout_minutes,
        )
        return EngineStart(external_run_id=started.job_run_id)

    def stop(self, run: JobRun) -> None:
        result = glue_batch_stop_job_run(
            job_name=run.job.glue_job_name, job_run_ids=[run.external_run_id]
        )
        if run.external_run_id in result.errors:
            raise PermanentAwsError(
                service="glue",
                operation="BatchStopJobRun",
                code="StopFailed",
                message=result.errors[run.external_run_id],
                http_status=None,
            )
        logger.info(
            "run.stop_requested",
            extra={"run_id": str(run.run_id), "glue_run_id": run.external_run_id},
        )
