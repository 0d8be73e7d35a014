"""The floor plan, enforced: which package may import which (ARCHITECTURE.md).

Read from the source with `ast`, so an import hidden inside a function counts as much as
one at the top, and no module has to be imported (or Django set up) to be checked.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("diep_portal", "jobs", "ingestion", "etl")
FIRST_PARTY = frozenset(PACKAGES)
#: Modules over this many lines say at their top why they are one module.
MAX_LINES = 500
SIZE_REASON = "One module because"


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str
    in_function: str | None  # the enclosing function's name, for function-level imports

    def __str__(self) -> str:
        where = f" (in {self.in_function})" if self.in_function else ""
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.module}{where}"


def _sources(*roots: str) -> Iterator[Path]:
    for root in roots:
        base = ROOT / root
        yield from ([base] if base.is_file() else sorted(base.rglob("*.py")))


def _imports(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    inside = ROOT in path.parents
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1]) if inside else ""

    def visit(node: ast.AST, function: str | None) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(path, child.lineno, alias.name, function)
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:  # relative: resolve against this package
                    base = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    module = f"{base}.{module}" if module else base
                yield Import(path, child.lineno, module, function)
            yield from visit(child, function)

    yield from visit(tree, None)


def _top(module: str) -> str:
    return module.split(".")[0]


def _violations(roots: tuple[str, ...], forbidden: frozenset[str]) -> list[str]:
    return [
        str(found)
        for path in _sources(*roots)
        for found in _imports(path)
        if _top(found.module) in forbidden
        or any(found.module.startswith(prefix + ".") for prefix in forbidden)
    ]


def test_the_reader_sees_hidden_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        "import os\n"
        "def later():\n"
        "    from ingestion.services import files_flush\n"
        "class Inner:\n"
        "    def method(self):\n"
        "        import boto3\n"
    )
    found = [(i.module, i.in_function) for i in _imports(source)]
    assert found == [("os", None), ("ingestion.services", "later"), ("boto3", "method")]


def test_jobs_never_imports_ingestion() -> None:
    # ingestion depends on jobs; what jobs needs of it arrives through the run listeners
    # (jobs.runs.state) and the admin hooks ingestion registers.
    assert _violations(("jobs",), frozenset({"ingestion"})) == []


def test_etl_imports_no_django_and_nothing_of_the_apps() -> None:
    # The same package ships to AWS Glue, where there is no Django and no portal.
    forbidden = frozenset(
        {"django", "rest_framework", "celery", "kombu", "boto3", "botocore", *FIRST_PARTY} - {"etl"}
    )
    assert _violations(("etl",), forbidden) == []


# What the Spark engine may bring to the driver, by the function that does it: counts,
# aggregates and bounded samples, never the data (issue 15).
DRIVER_RESULTS = {
    ("etl/spark/transform.py", "reject_samples"): "at most MAX_REJECT_SAMPLES rows",
    ("etl/spark/checks.py", "_duplicates"): "one aggregate row",
    ("etl/spark/read.py", "_csv_after_skipped_lines"): "one count per input split",
    ("etl/spark/read.py", "_csv_names"): "one header line per input file",
}
_ROWS_TO_DRIVER = frozenset(
    {"collect", "toPandas", "toLocalIterator", "take", "first", "head", "tail", "toArrow"}
)


def test_the_spark_engine_brings_no_rows_to_the_driver() -> None:
    found = {
        (str(path.relative_to(ROOT)), function)
        for path in _sources("etl/spark", "etl/glue_job.py")
        for function, call in _calls(ast.parse(path.read_text()), None)
        if call in _ROWS_TO_DRIVER
    }
    assert sorted(found - set(DRIVER_RESULTS)) == []
    assert found, "the walk found no calls at all: it is broken, not the engine clean"


def _calls(node: ast.AST, function: str | None) -> Iterator[tuple[str | None, str]]:
    """(innermost enclosing function, method name) of every method call under node."""
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, ast.FunctionDef) else function
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
            yield function, child.func.attr
        yield from _calls(child, inner)


def test_the_event_parser_is_pure() -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    impure = [
        str(found)
        for found in _imports(ROOT / "ingestion" / "events.py")
        if _top(found.module) not in allowed
    ]
    assert impure == []


def test_boto3_only_under_the_aws_hooks() -> None:
    aws = ROOT / "diep_portal" / "aws"
    outside = [
        str(found)
        for path in _sources(*PACKAGES, "bench", "manage.py")
        if aws not in path.parents
        for found in _imports(path)
        if _top(found.module) in {"boto3", "botocore"}
    ]
    assert outside == []


def test_the_aws_layer_knows_nothing_of_the_apps() -> None:
    # Provisioning is handed the jobs' triggers (diep_portal/infrastructure.py composes).
    assert _violations(("diep_portal/aws",), frozenset({"jobs", "ingestion"})) == []


def test_the_shared_kit_knows_nothing_of_the_apps() -> None:
    # What every app builds on (the admin kit may scope by team: it sees jobs' selectors).
    kit = (
        "diep_portal/api",
        "diep_portal/celery.py",
        "diep_portal/exceptions.py",
        "diep_portal/locks.py",
        "diep_portal/log.py",
        "diep_portal/parsers.py",
        "diep_portal/text.py",
    )
    assert _violations(kit, frozenset({"jobs", "ingestion"})) == []
    assert _violations(("diep_portal/admin_kit.py",), frozenset({"ingestion"})) == []


def _sets_up_django(path: Path) -> bool:
    return "django.setup()" in path.read_text()


def test_no_function_level_imports_of_first_party_code() -> None:
    # Allowed where there is no other way: an AppConfig.ready (models load after the
    # app registry), and scripts that set Django up themselves before importing models.
    hidden = [
        str(found)
        for path in _sources(*PACKAGES, "bench")
        if not _sets_up_django(path)
        for found in _imports(path)
        if found.in_function is not None
        and _top(found.module) in FIRST_PARTY
        and not (path.name == "apps.py" and found.in_function == "ready")
    ]
    assert hidden == []


@pytest.mark.parametrize("package", [*PACKAGES, "bench"])
def test_long_modules_say_why_they_are_one(package: str) -> None:
    unexplained = []
    for path in _sources(package):
        lines = path.read_text().splitlines()
        if "migrations" in path.parts or len(lines) <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse("\n".join(lines))) or ""
        if SIZE_REASON not in docstring:
            unexplained.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert unexplained == []


def test_tests_mirror_the_package_tree() -> None:
    # tests/<path>/test_<name>.py tests <path>/<name>.py or the package <path>/<name>/
    # (test_<name>_<topic>.py: one topic of it). Top-level tests check the repository;
    # the cross-cutting suites (e2e, reliability, fuzz, security, conformance) are exempt.
    cross_cutting = {"e2e", "reliability", "fuzz", "security", "conformance"}
    strays = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        parts = path.relative_to(ROOT / "tests").parts
        if len(parts) == 1 or parts[0] in cross_cutting:
            continue
        folder = ROOT.joinpath(*parts[:-1])
        words = path.stem.removeprefix("test_").split("_")
        names = ["_".join(words[:n]) for n in range(len(words), 0, -1)]
        if not any((folder / f"{name}.py").is_file() or (folder / name).is_dir() for name in names):
            strays.append(f"tests/{'/'.join(parts)}")
    assert strays == []
