"""Both engines give the same answer for every case (tests/conformance/cases.py):
the case's stated answer, and each other's in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etl.spark import transform
from tests.conformance.cases import CASES
from tests.conformance.conftest import engines
from tests.conformance.harness import Case, differences, run_case

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_engine_gives_the_cases_answer(case: Case, engine: Any, tmp_path: Path) -> None:
    answer = run_case(case, engine, tmp_path)
    assert differences(case.expected, answer) == []


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_engines_agree_in_full(case: Case, spark: Any, tmp_path: Path) -> None:
    # Beyond what the case states: every row, type, partition, metric and sample.
    answers = [run_case(case, engine, tmp_path / name) for name, engine in engines(spark)]
    local, distributed = (_without_message(answer) for answer in answers)
    assert differences(local, distributed) == []


def test_a_case_the_engines_answer_differently_fails(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suite can fail: break ">" on Spark alone (it becomes ">=") and the filter case
    # that depends on it no longer gives its answer, nor the local engine's.
    monkeypatch.setitem(transform._COMPARE, ">", lambda a, b: a >= b)
    (case,) = [c for c in CASES if c.name == "filter_lt_literal_left"]
    flipped = Case(
        name="filter_gt_on_a_boundary",
        source=case.source,
        files=case.files,
        transform={**case.transform, "filter": {"op": ">", "args": [{"col": "id"}, 3]}},
        expected={"values:id": [4]},
    )
    (_, on_spark), (_, local) = reversed(engines(spark))
    broken = run_case(flipped, on_spark, tmp_path / "spark")
    assert differences(flipped.expected, broken) == ["values:id: expected [4], got [3, 4]"]
    assert differences(run_case(flipped, local, tmp_path / "local"), broken) != []


def _without_message(answer: dict[str, Any]) -> dict[str, Any]:
    # A failure's wording is the engine's own (Spark names its exception); its kind is not.
    return {key: value for key, value in answer.items() if key != "message"}
