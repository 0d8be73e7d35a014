"""The ETL package Glue imports (`--extra-py-files`), zipped from the repository's `etl/`."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from diep_portal.aws.provision.errors import ProvisionError

REPO_ROOT = Path(__file__).resolve().parents[3]
#: The package Glue imports; read when `etl_package_zip` is called (tests may point it
#: elsewhere).
ETL_PACKAGE_DIR = REPO_ROOT / "etl"
ETL_PACKAGE_NAME = "etl"
#: The Glue entry point inside the package: uploaded on its own (GLUE_SCRIPT_KEY), so
#: left out of the zip, which carries only what the script imports.
GLUE_SCRIPT_NAME = "glue_job.py"


def etl_package_zip(package_dir: Path | None = None) -> bytes:
    """A zip of `etl/**/*.py` importable as `etl` (Glue --extra-py-files), without the
    Glue script itself and without `__pycache__`.

    Deterministic: sorted entries, fixed timestamps and modes, and no compression (so
    the bytes depend on the sources alone, not on the zlib build), hence the same
    sources give the same MD5 and a second provisioning uploads nothing.
    """
    root = package_dir if package_dir is not None else ETL_PACKAGE_DIR
    if not root.is_dir():
        raise ProvisionError(f"The ETL package directory {root} does not exist.")
    entries: dict[str, bytes] = {}
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if "__pycache__" in relative.parts or relative.as_posix() == GLUE_SCRIPT_NAME:
            continue
        entries[f"{ETL_PACKAGE_NAME}/{relative.as_posix()}"] = path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, entries[name])
    return buffer.getvalue()
