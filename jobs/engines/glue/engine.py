"""The Glue engine: StartJobRun with the run's rendered arguments, adoption by
its run id, BatchStopJobRun."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from django.conf import settings

from diep_portal.aws.glue import (
    glue_batch_stop_job_run,
    glue_get_job_runs,
    glue_run_logs_url,
    glue_start_job_run,
)
from diep_portal.aws.s3 import s3_put_bytes
from diep_portal.exceptions import PermanentAwsError
from etl.contract import RunArguments
from jobs.engines.base import EngineStart
from jobs.engines.glue.metrics import metrics_uri
from jobs.engines.glue.tracking import poll_glue_runs

if TYPE_CHECKING:
    from jobs.models import JobRun

logger = logging.getLogger(__name__)

RUN_ID_ARGUMENT = RunArguments.argument("run_id")


class GlueEngine:
    """Runs a job as an AWS Glue job run; the run id travels in its arguments
    (etl.contract.RunArguments), which is how an interrupted start is adopted."""

    name = "glue"

    def start(self, run: JobRun) -> EngineStart:
        capacity = run.capacity or {}
        # The script reads the job version's spec and reports its metrics in S3: a
        # spec is too large for an argument, and arguments are visible to anyone who
        # can read the run.
        diep = replace(
            RunArguments.from_arguments(run.arguments),
            spec_uri=_put_spec(run),
            metrics_uri=metrics_uri(run),
        )
        arguments = {**run.arguments, **diep.to_arguments()}
        if capacity.get("auto_scaling"):
            # Glue scales between 2 workers and number_of_workers when this is set.
            arguments["--enable-auto-scaling"] = "true"
        started = glue_start_job_run(
            job_name=run.job.glue_job_name,
            arguments=arguments,
            worker_type=capacity.get("worker_type"),
            number_of_workers=capacity.get("number_of_workers"),
            max_capacity=capacity.get("max_capacity"),
            execution_class=capacity.get("execution_class"),
            timeout_minutes=run.job.timeout_minutes,
        )
        return EngineStart(
            external_run_id=started.job_run_id,
            logs_url=glue_run_logs_url(job_run_id=started.job_run_id),
        )

    def find(self, run: JobRun) -> EngineStart | None:
        """Bounded GetJobRuns scan, newest first, for a run carrying our run id."""
        wanted = str(run.run_id)
        for glue_run in glue_get_job_runs(
            job_name=run.job.glue_job_name, max_pages=settings.DIEP_GLUE_ADOPT_MAX_PAGES
        ):
            if glue_run.arguments.get(RUN_ID_ARGUMENT) == wanted:
                return EngineStart(
                    external_run_id=glue_run.job_run_id,
                    logs_url=glue_run_logs_url(job_run_id=glue_run.job_run_id),
                    adopted=True,
                )
        return None

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

    def track(self) -> int:
        """A poll of every active Glue run, then the timeout backstop (tracking)."""
        report = poll_glue_runs()
        return report.runs_changed + report.runs_timed_out


def _put_spec(run: JobRun) -> str:
    version = run.job_version
    key = f"specs/{run.job.job_id}/v{version.version}.json"
    s3_put_bytes(
        bucket=settings.DIEP_ARTIFACTS_BUCKET,
        key=key,
        data=json.dumps(version.config).encode(),
        content_type="application/json",
    )
    return f"s3://{settings.DIEP_ARTIFACTS_BUCKET}/{key}"
