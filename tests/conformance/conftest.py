"""Both engines as the conformance tests call them (the SparkSession is the pytest
session's, tests/conftest.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from etl.request import EtlRequest, EtlResult
from etl.run import run_etl
from etl.spark.run import run_spark_etl
from etl.storage import Storage
from tests.conformance.harness import Engine


def engines(session: Any) -> list[tuple[str, Engine]]:
    """Both engines, each running a request: the local one (pyarrow), then Spark."""

    def local(etl: EtlRequest, storage: Storage, now: datetime) -> EtlResult:
        return run_etl(etl, storage=storage, now=now)

    def on_spark(etl: EtlRequest, storage: Storage, now: datetime) -> EtlResult:
        return run_spark_etl(etl, storage=storage, spark=session, now=now)

    return [("pyarrow", local), ("spark", on_spark)]


@pytest.fixture(params=["pyarrow", "spark"])
def engine(request: pytest.FixtureRequest) -> Engine:
    session = request.getfixturevalue("spark") if request.param == "spark" else None
    return dict(engines(session))[request.param]
