"""Doubles as text on Spark spelled as pyarrow spells them (the CSV both engines write)."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import functions as sf

from etl.spark.text import double_text

pytestmark = pytest.mark.spark

EDGES = [
    *(10.0**power for power in range(-8, 23)),
    *(-1.5 * 10.0**power for power in range(-8, 23)),
    123456789.125, 1 / 3, 2.5e-5, 1e100, 1.7976931348623157e308, 0.1, -0.0, 0.0,
    math.nan, math.inf, -math.inf, None,
]  # fmt: skip


def as_text(spark: Any, values: list[float | None]) -> list[str | None]:
    frame = spark.createDataFrame(list(enumerate(values)), "i long, x double")
    rows = frame.select("i", double_text(sf.col("x")).alias("text")).orderBy("i").collect()
    return [row["text"] for row in rows]


def test_everyday_values_are_spelled_as_pyarrow_spells_them(spark: Any) -> None:
    generator = random.Random(7)
    values = [
        *EDGES,
        *(generator.uniform(-1e6, 1e6) for _ in range(2000)),
        *(round(generator.uniform(0, 1e4), generator.randint(0, 6)) for _ in range(2000)),
    ]
    assert as_text(spark, values) == pc.cast(pa.array(values), pa.string()).to_pylist()


def test_any_double_reads_back_as_itself(spark: Any) -> None:
    # Arbitrary bit patterns: the layout always matches; Java 17 gives a rare value one
    # digit more than the shortest (JDK-4511638), still the same double.
    generator = random.Random(11)
    values = [
        value
        for value in (
            struct.unpack("<d", generator.getrandbits(64).to_bytes(8, "little"))[0]
            for _ in range(3000)
        )
        if math.isfinite(value)
    ]
    texts = as_text(spark, values)
    assert [float(text) for text in texts if text is not None] == values
    expected = pc.cast(pa.array(values), pa.string()).to_pylist()
    differing = [(t, e) for t, e in zip(texts, expected, strict=True) if t != e]
    assert len(differing) < len(values) * 0.01
    assert all(("e" in (t or "")) == ("e" in (e or "")) for t, e in differing)
