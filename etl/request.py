"""What a run is asked to do and what it reports, the same for both engines: the
request (a validated job spec plus the run's inputs), which files it reads, and the
metrics document it hands back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl import spec as etl_spec
from etl.errors import EtlError
from etl.storage import InputFile, Storage, list_inputs, manifest_inputs

_MISSING_LISTED = 1000  # a manifest's files, at most; the count is exact anyway


@dataclass(frozen=True)
class EtlRequest:
    run_id: str
    source_uri: str
    source_format: str
    source_options: Mapping[str, Any]
    destination_uri: str
    destination_format: str
    destination_options: Mapping[str, Any]
    partition_by: tuple[str, ...]
    mode: str  # append | overwrite (the partitions this run touches)
    transform: Mapping[str, Any]
    manifest_uri: str | None = None  # the files of a coalesced event run
    bookmark: datetime | None = None  # without a manifest: only files modified after this

    @classmethod
    def from_spec(
        cls,
        job_spec: Mapping[str, Any],
        *,
        run_id: str,
        manifest_uri: str | None = None,
        bookmark: datetime | None = None,
    ) -> EtlRequest:
        """From a job spec (the /create_job/ body), validated again here because the Glue
        job reads it from S3 and trusts nothing it did not check itself."""
        try:
            source, destination = job_spec["source"], job_spec["destination"]
            return cls(
                run_id=run_id,
                source_uri=source["uri"],
                source_format=source["format"],
                source_options=etl_spec.validate_source_options(
                    source["format"], source.get("options")
                ),
                destination_uri=destination["uri"],
                destination_format=destination.get("format", "parquet"),
                destination_options=etl_spec.validate_destination_options(
                    destination.get("format", "parquet"), destination.get("options")
                ),
                partition_by=tuple(destination.get("partition_by") or ()),
                mode=destination.get("mode", "append"),
                transform=etl_spec.validate_transform(job_spec.get("transform")),
                manifest_uri=manifest_uri,
                bookmark=bookmark,
            )
        except (KeyError, TypeError) as exc:
            raise EtlError(f"Not a job spec: missing {exc}") from exc
        except etl_spec.SpecError as exc:
            raise EtlError(f"Invalid job spec: {exc}") from exc

    @property
    def allow_empty(self) -> bool:
        return bool(self.source_options.get("allow_empty"))


@dataclass(frozen=True)
class EtlResult:
    metrics: dict[str, Any]
    # How the engine split the work (Spark: tasks per stage); logged, not reported.
    stages: list[dict[str, Any]] = field(default_factory=list)


def request_inputs(storage: Storage, request: EtlRequest) -> list[InputFile]:
    """The files this run reads: its manifest's, or what is under the source (newer than
    the bookmark). Nothing new since the bookmark is normal; nothing there at all is not."""
    if request.manifest_uri:
        return manifest_inputs(storage, request.manifest_uri)
    inputs = list_inputs(storage, request.source_uri, newer_than=request.bookmark)
    if not inputs and not request.allow_empty and not _has_data(storage, request):
        raise EtlError(
            f"No input: {request.source_uri} holds no data files (a mistyped prefix, "
            "a deleted file or bucket?). Set the source option allow_empty if this "
            "job may find nothing."
        )
    return inputs


def _has_data(storage: Storage, request: EtlRequest) -> bool:
    return bool(request.bookmark) and bool(
        list_inputs(storage, request.source_uri, newer_than=None)
    )


def check_not_all_missing(request: EtlRequest, inputs: Sequence[InputFile], missing: int) -> None:
    if inputs and missing == len(inputs) and not request.allow_empty:
        raise EtlError(f"Every input file of this run is gone ({missing}).")


def bytes_in(storage: Storage, inputs: Sequence[InputFile]) -> int:
    total = 0
    for file in inputs:
        if file.size is None:
            filesystem, path = storage.resolve(file.uri)
            total += filesystem.get_file_info(path).size or 0
        else:
            total += file.size
    return total


def run_metrics(
    *,
    inputs: Sequence[InputFile],
    missing: Sequence[str],
    rows_in: int,
    rows_out: int,
    rows_rejected: int,
    rejected_samples: list[dict[str, str]],
    bytes_in: int,
    published: Any,
    checks: list[dict[str, Any]],
    duration_seconds: float,
) -> dict[str, Any]:
    """The run's metrics document (the contract's RunReport.metrics), either engine."""
    modified = [f.modified for f in inputs if f.modified is not None]
    return {
        "files": len(inputs) - len(missing),
        "files_missing": len(missing),
        "missing_files": list(missing[:_MISSING_LISTED]),
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_rejected": rows_rejected,
        "rows_dropped": rows_in - rows_rejected - rows_out,
        "bytes_in": bytes_in,
        "bytes_out": published.bytes if published else 0,
        "output_files": len(published.files) if published else 0,
        "partitions": len(published.partitions) if published else 0,
        "duration_seconds": round(duration_seconds, 3),
        "rejected_samples": rejected_samples,
        "checks": checks,
        "bookmark": max(modified).isoformat() if modified else None,
    }
