"""The script AWS Glue runs for DIEP jobs: parse the run's arguments, run the job spec
on Spark (etl.spark), write the run's report.

Provisioning uploads this file as the Glue job's script and etl as a zip
(`--extra-py-files`). The portal passes, per run, the etl.contract.RunArguments:

  --diep_run_id       the DIEP run (names the output files)
  --diep_spec         s3:// URI of the job version's spec (JSON, the /create_job/ body)
  --diep_manifest     the files of a coalesced event run (optional, a contract Manifest)
  --diep_bookmark     read only files modified after this ISO time (optional)
  --diep_metrics      where to write the run's contract RunReport (optional)

Runnable anywhere pyspark is: `python -m etl.glue_job --diep_spec spec.json
--diep_run_id r1 [--diep_manifest m.json]` runs Spark on `DIEP_SPARK_MASTER`
(local[2]); the spec, manifest and report may be local paths or s3:// (with
AWS_ENDPOINT_URL), the data local paths (pyspark ships no S3 connector; Glue has its
own). Exit status 0 on success, 1 when the run fails (Glue then marks the run FAILED),
with the report written either way.
"""

from __future__ import annotations

import logging
import posixpath
import sys
from collections.abc import Sequence

from pyarrow import fs

from etl.contract import ContractError, RunArguments, RunReport
from etl.errors import ChecksFailed, EtlError
from etl.request import EtlRequest
from etl.spark.run import run_spark_etl
from etl.spark.session import spark_session
from etl.storage import Storage

logger = logging.getLogger("diep.glue_job")


def parse_arguments(argv: Sequence[str]) -> RunArguments:
    """The DIEP arguments of this run. Uses Glue's own getResolvedOptions when running
    in Glue (it takes names without dashes, and only those present); an equivalent
    parser elsewhere. A run needs its run id and its spec."""
    names = [name for name in RunArguments.names() if f"--{name}" in argv]
    required = [RunArguments.argument(field)[2:] for field in ("run_id", "spec_uri")]
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        resolved = _resolve(argv, sorted({*names, *required}))
    else:
        resolved = dict(getResolvedOptions(list(argv), sorted({*names, *required})))
    try:
        return RunArguments.from_arguments({f"--{name}": value for name, value in resolved.items()})
    except ContractError as exc:
        raise SystemExit(str(exc)) from exc


def _resolve(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    # As getResolvedOptions: "--name value" or "--name=value"; the last occurrence wins
    # (Glue appends a run's arguments after the job's defaults).
    values: dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        if token.startswith("--"):
            name, has_value, value = token[2:].partition("=")
            if not has_value and index + 1 < len(argv) and not argv[index + 1].startswith("--"):
                value, index = argv[index + 1], index + 1
            values[name] = value
        index += 1
    missing = [name for name in names if not values.get(name)]
    if missing:
        raise SystemExit(f"missing argument(s): {', '.join('--' + n for n in missing)}")
    return {name: values[name] for name in names}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    storage = Storage.from_environment()
    try:
        spec_uri = args.spec_uri or ""
        spec = storage.read_json(spec_uri)
        if not isinstance(spec, dict):
            raise EtlError(f"{spec_uri} is not a job spec object")
        request = EtlRequest.from_spec(
            spec, run_id=args.run_id, manifest_uri=args.manifest_uri, bookmark=args.bookmark
        )
        result = run_spark_etl(request, storage=storage, spark=spark_session())
        report = RunReport(run_id=args.run_id, status="SUCCEEDED", metrics=result.metrics)
    except ChecksFailed as exc:
        report = RunReport(
            run_id=args.run_id, status="FAILED", error=str(exc), metrics={"checks": exc.report}
        )
    except EtlError as exc:
        report = RunReport(run_id=args.run_id, status="FAILED", error=str(exc))
    except Exception as exc:
        # Still a report, so the run shows why it failed rather than only Glue's state.
        logger.exception("diep.run_crashed %s", args.run_id)
        report = RunReport(
            run_id=args.run_id,
            status="FAILED",
            error=f"internal error: {type(exc).__name__}: {exc}",
        )
    document = report.to_json()
    logger.info("diep.run %s", document.decode())
    if args.metrics_uri:
        _write_bytes(storage, args.metrics_uri, document)
    return 0 if report.status == "SUCCEEDED" else 1


def _write_bytes(storage: Storage, uri: str, document: bytes) -> None:
    filesystem, path = storage.resolve(uri)
    try:
        if isinstance(filesystem, fs.LocalFileSystem):
            filesystem.create_dir(posixpath.dirname(path), recursive=True)
        with filesystem.open_output_stream(path) as out:
            out.write(document)
    except OSError:
        logger.exception("diep.metrics_not_written %s", uri)


if __name__ == "__main__":
    sys.exit(main())
