"""The ETL package Glue imports (`--extra-py-files`), zipped from the repository's `etl/`:
the modules the Glue script reaches through its imports (the Spark engine, the spec,
the contract, storage and publish), not the pyarrow engine's data path."""

from __future__ import annotations

import ast
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


def _module_file(root: Path, module: str) -> Path | None:
    parts = module.split(".")[1:]
    candidates = [root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")]
    if not parts:
        candidates = [root / "__init__.py"]
    return next((path for path in candidates if path.is_file()), None)


def _imported(path: Path) -> set[str]:
    """The `etl.*` modules a file imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == ETL_PACKAGE_NAME)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == ETL_PACKAGE_NAME
        ):
            module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _reachable(root: Path, entry: Path) -> set[Path]:
    """The files of the package `entry` imports, transitively, with their packages'
    __init__ files."""
    seen: set[Path] = set()
    pending = [entry]
    while pending:
        for module in _imported(pending.pop()):
            parts = module.split(".")
            for depth in range(1, len(parts) + 1):
                path = _module_file(root, ".".join(parts[:depth]))
                if path is not None and path not in seen:
                    seen.add(path)
                    pending.append(path)
    return seen


def etl_package_zip(package_dir: Path | None = None) -> bytes:
    """A zip of what the Glue script (`glue_job.py`) imports from `etl/`, importable
    as `etl` (Glue --extra-py-files), without the script itself; a package without the
    script is zipped whole. No `__pycache__`.

    Deterministic: sorted entries, fixed timestamps and modes, and no compression (so
    the bytes depend on the sources alone, not on the zlib build), hence the same
    sources give the same MD5 and a second provisioning uploads nothing.
    """
    root = package_dir if package_dir is not None else ETL_PACKAGE_DIR
    if not root.is_dir():
        raise ProvisionError(f"The ETL package directory {root} does not exist.")
    entries: dict[str, bytes] = {}
    script = root / GLUE_SCRIPT_NAME
    sources = _reachable(root, script) if script.is_file() else set(root.rglob("*.py"))
    for path in sorted(sources):
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
