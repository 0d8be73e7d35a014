"""Helpers shared by the local engine's tests: a local job over the moto server's raw and
curated buckets, fired and started the legal way."""

from __future__ import annotations

from typing import Any

from jobs import services
from jobs.models import FireSource, JobRun
from jobs.runs.start import run_start

RAW, CURATED = "diep-raw", "diep-curated"


def local_job(make_job: Any, **overrides: Any) -> Any:
    spec = {
        "engine": "local",
        "glue_job_name": "",
        "source": {"uri": f"s3://{RAW}/orders/", "format": "csv"},
        "destination": {"uri": f"s3://{CURATED}/orders/", "partition_by": ["region"]},
        "transform": {
            "rename": {"id": "order_id"},
            "cast": {"order_id": "int", "amount": "float"},
        },
        "parameters": {},
        "parameters_schema": {},
    }
    return make_job(**{**spec, **overrides})


def fire_and_run(job: Any) -> JobRun:
    run = services.job_fire(job=job, parameters={}, trigger=FireSource.API).run
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    return run
