"""The run report (etl.contract.RunReport) the DIEP Glue script leaves in S3 when it
ends, and where."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings

from diep_portal.aws.s3 import s3_get_bytes
from diep_portal.exceptions import AwsError
from etl.contract import ContractError, RunReport

if TYPE_CHECKING:
    from jobs.models import JobRun

logger = logging.getLogger(__name__)


def metrics_uri(run: JobRun) -> str:
    """Where the script writes the run's report."""
    return f"s3://{settings.DIEP_ARTIFACTS_BUCKET}/runs/{run.run_id}/metrics.json"


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def collect_metrics(run: JobRun) -> dict[str, Any]:
    """What the DIEP Glue script reported for a finished run ({} if nothing: a custom
    script, or a run that died before writing it)."""
    uri = metrics_uri(run)
    bucket, key = _split(uri)
    try:
        report = RunReport.from_json(s3_get_bytes(bucket=bucket, key=key), where=uri)
    except (AwsError, ContractError) as exc:
        logger.info("run.no_glue_metrics", extra={"run_id": str(run.run_id), "error": str(exc)})
        return {}
    return dict(report.metrics)
