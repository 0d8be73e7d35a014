"""The script AWS Glue runs for DIEP jobs: parse the run's arguments, run etl.

Provisioning uploads this file as the Glue job's script and etl as a zip
(`--extra-py-files`). The portal passes, per run:

  --diep_run_id       the DIEP run (names the output files)
  --diep_spec         s3:// URI of the job version's spec (JSON, the /create_job/ body)
  --diep_manifest     the files of a coalesced event run (optional)
  --diep_bookmark     read only files modified after this ISO time (optional)
  --diep_metrics      where to write the run's metrics as JSON (optional)

Runnable anywhere for testing: `python -m etl.glue_job --diep_spec spec.json
--diep_run_id r1 [--diep_manifest m.json]` (local paths or s3:// with AWS_ENDPOINT_URL).
Exit status 0 on success, 1 when the run fails (Glue then marks the run FAILED).
"""

from __future__ import annotations

import json
import logging
import posixpath
import sys
from collections.abc import Sequence
from datetime import datetime

from pyarrow import fs

from etl.errors import ChecksFailed, EtlError
from etl.run import EtlRequest, run_etl
from etl.storage import Storage

logger = logging.getLogger("diep.glue_job")

REQUIRED = ("diep_run_id", "diep_spec")
OPTIONAL = ("diep_manifest", "diep_bookmark", "diep_metrics")


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """The DIEP arguments of this run, by name without dashes. Uses Glue's own
    getResolvedOptions when running in Glue; an equivalent parser elsewhere."""
    present = [name for name in OPTIONAL if f"--{name}" in argv]
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return _resolve(argv, [*REQUIRED, *present])
    return dict(getResolvedOptions(list(argv), [*REQUIRED, *present]))


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
    outcome: dict[str, object] = {"run_id": args["diep_run_id"]}
    status = 1
    try:
        spec = storage.read_json(args["diep_spec"])
        if not isinstance(spec, dict):
            raise EtlError(f"{args['diep_spec']} is not a job spec object")
        bookmark = args.get("diep_bookmark")
        request = EtlRequest.from_spec(
            spec,
            run_id=args["diep_run_id"],
            manifest_uri=args.get("diep_manifest"),
            bookmark=datetime.fromisoformat(bookmark) if bookmark else None,
        )
        outcome.update(status="SUCCEEDED", metrics=run_etl(request, storage=storage).metrics)
        status = 0
    except ChecksFailed as exc:
        outcome.update(status="FAILED", error=str(exc), metrics={"checks": exc.report})
    except EtlError as exc:
        outcome.update(status="FAILED", error=str(exc))
    logger.info("diep.run %s", json.dumps(outcome, default=str))
    if metrics_uri := args.get("diep_metrics"):
        _write_json(storage, metrics_uri, outcome)
    return status


def _write_json(storage: Storage, uri: str, document: object) -> None:
    filesystem, path = storage.resolve(uri)
    try:
        if isinstance(filesystem, fs.LocalFileSystem):
            filesystem.create_dir(posixpath.dirname(path), recursive=True)
        with filesystem.open_output_stream(path) as out:
            out.write(json.dumps(document, default=str).encode())
    except OSError:
        logger.exception("diep.metrics_not_written %s", uri)


if __name__ == "__main__":
    sys.exit(main())
