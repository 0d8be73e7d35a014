"""The ETL zip Glue imports: `etl/` as it is in the repository, and nothing else."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from diep_portal.aws.provision import ProvisionError, etl_package_zip


def names(archive: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(archive)).namelist()


def test_the_zip_holds_what_the_glue_script_imports_under_its_own_name() -> None:
    archive = etl_package_zip()

    entries = names(archive)
    assert entries == sorted(entries)
    assert {
        "etl/__init__.py",
        "etl/spec/__init__.py",
        "etl/spark/run.py",
        "etl/spark/session.py",
        "etl/publish.py",
        "etl/storage.py",
        "etl/contract.py",
    } <= set(entries)
    # The pyarrow engine's data path stays home: Glue runs the Spark one.
    assert not {"etl/run.py", "etl/read.py", "etl/write.py", "etl/transform.py"} & set(entries)
    assert all(name.startswith("etl/") for name in entries)  # no fake parent package
    assert not [name for name in entries if "__pycache__" in name or not name.endswith(".py")]
    # The Glue script is uploaded on its own (glue/glue_job.py), not imported from the zip.
    assert "etl/glue_job.py" not in entries


def test_the_zip_is_deterministic(tmp_path: Path) -> None:
    package = tmp_path / "etl"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "spec.py").write_text("X = 1\n")
    (package / "__pycache__" / "spec.cpython-311.py").write_text("stale")
    first = etl_package_zip(package)

    (package / "spec.py").touch()  # a new mtime, the same bytes
    assert etl_package_zip(package) == first
    assert names(first) == ["etl/__init__.py", "etl/spec.py"]
    (info,) = [
        i for i in zipfile.ZipFile(io.BytesIO(first)).infolist() if i.filename.endswith("spec.py")
    ]
    assert info.date_time == (1980, 1, 1, 0, 0, 0)
    assert info.compress_type == zipfile.ZIP_STORED


def test_a_missing_package_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="does not exist"):
        etl_package_zip(tmp_path / "nowhere")


def test_the_zip_alone_is_importable(tmp_path: Path) -> None:
    zip_path = tmp_path / "diep_etl.zip"
    zip_path.write_bytes(etl_package_zip())
    # -I: no cwd, no PYTHONPATH (and cwd is elsewhere); etl.spec as asked, plus what the
    # Glue script itself imports.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import etl.spec as spec; "
        "import etl.errors, etl.request, etl.storage, etl.contract, etl.spark.run; "
        "print(spec.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(zip_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(zip_path))
