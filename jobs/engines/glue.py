"""AWS Glue engine: StartJobRun with the run's rendered arguments."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings

from diep_portal.aws.glue import (
    glue_batch_stop_job_run,
    glue_get_job_runs,
    glue_run_logs_url,
    glue_start_job_run,
)
from diep_portal.aws.s3 import s3_get_bytes, s3_put_bytes
from diep_portal.exceptions import AwsError, PermanentAwsError
from jobs.engines.base import EngineStart

if TYPE_CHECKING:
    from jobs.models import JobRun

logger = logging.getLogger(__name__)


class GlueEngine:
    """Runs a job as an AWS Glue job run; the run id travels as `--diep_run_id`."""

    name = "glue"

    def start(self, run: JobRun) -> EngineStart:
        capacity = run.capacity or {}
        arguments = {
            **run.arguments,
            # The script reads the job version's spec and reports its metrics in S3:
            # a spec is too large for an argument, and arguments are visible to anyone
            # who can read the run.
            "--diep_spec": _put_spec(run),
            "--diep_metrics": metrics_uri(run),
        }
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
        """Bounded GetJobRuns scan, newest first, for a run carrying our --diep_run_id."""
        wanted = str(run.run_id)
        for glue_run in glue_get_job_runs(
            job_name=run.job.glue_job_name, max_pages=settings.DIEP_GLUE_ADOPT_MAX_PAGES
        ):
            if glue_run.arguments.get("--diep_run_id") == wanted:
                return EngineStart(
                    external_run_id=glue_run.job_run_id,
                    logs_url=glue_run_logs_url(job_run_id=glue_run.job_run_id),
                    adopted=True,
                )
        return None

    def collect_metrics(self, run: JobRun) -> dict[str, Any]:
        """What the DIEP Glue script reported for a finished run ({} if nothing: a custom
        script, or a run that died before writing it)."""
        bucket, key = _split(metrics_uri(run))
        try:
            report = json.loads(s3_get_bytes(bucket=bucket, key=key))
        except (AwsError, ValueError) as exc:
            logger.info("run.no_glue_metrics", extra={"run_id": str(run.run_id), "error": str(exc)})
            return {}
        metrics = report.get("metrics") if isinstance(report, dict) else None
        return metrics if isinstance(metrics, dict) else {}

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


def metrics_uri(run: JobRun) -> str:
    return f"s3://{settings.DIEP_ARTIFACTS_BUCKET}/runs/{run.run_id}/metrics.json"


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


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
