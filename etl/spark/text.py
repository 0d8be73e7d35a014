"""Values as text the way the local engine writes them (pyarrow's casts to string), so
a CSV written by either engine reads the same.

Doubles are the one type whose text Spark (Java's Double.toString: "1.0E20", "NaN")
and pyarrow ("1e+20", "nan") lay out differently. Both print the shortest digits that
read back as the same double (on Java 17 a rare value gets one digit more: JDK-4511638,
fixed in Java 19); the layout is rewritten here with column expressions, no Python on
the rows: plain notation when the first significant digit's exponent is in
[PLAIN_LOW, PLAIN_HIGH), otherwise `d.ddde±x`.
"""

from __future__ import annotations

from typing import Final

from pyspark.sql import Column
from pyspark.sql import functions as sf

PLAIN_LOW: Final = -6
PLAIN_HIGH: Final = 10


def double_text(value: Column) -> Column:
    java = value.cast("string")  # "123.45", "1.0E-7", "-1.2345E20"
    negative = java.startswith("-")
    mantissa = sf.regexp_extract(java, r"^-?([0-9.]+)", 1)
    power = sf.coalesce(sf.regexp_extract(java, r"E(-?[0-9]+)$", 1).cast("int"), sf.lit(0))
    joined = sf.regexp_replace(mantissa, r"\.", "")
    zeros = sf.length(sf.regexp_extract(joined, "^(0*)", 1))
    digits = sf.regexp_replace(sf.regexp_replace(joined, "^0+", ""), "0+$", "")
    count = sf.length(digits)
    # value = d.ddd * 10^lead, d.ddd being `digits`
    lead = (sf.locate(".", mantissa) - 1) + power - zeros - 1

    def part(start: Column | int, length: Column | int) -> Column:
        return sf.call_function("substr", digits, sf.lit(start), sf.lit(length))

    def zeros_of(length: Column) -> Column:
        return sf.call_function("repeat", sf.lit("0"), sf.greatest(length, sf.lit(0)))

    def fraction(start: Column | int) -> Column:
        # "" when there is none; concat_ws skips the null.
        return sf.when(count >= start, sf.concat(sf.lit("."), part(start, count)))

    plain = sf.when(
        lead >= 0,
        sf.concat_ws("", part(1, lead + 1), zeros_of(lead + 1 - count), fraction(lead + 2)),
    ).otherwise(sf.concat(sf.lit("0."), zeros_of(-lead - 1), digits))
    scientific = sf.concat_ws(
        "",
        part(1, 1),
        fraction(2),
        sf.lit("e"),
        sf.when(lead > 0, sf.lit("+")).otherwise(sf.lit("-")),
        sf.abs(lead).cast("string"),
    )
    body = sf.when((lead >= PLAIN_LOW) & (lead < PLAIN_HIGH), plain).otherwise(scientific)
    return (
        sf.when(value.isNull(), sf.lit(None).cast("string"))
        .when(sf.isnan(value), sf.lit("nan"))
        .when(value == float("inf"), sf.lit("inf"))
        .when(value == float("-inf"), sf.lit("-inf"))
        .when(value == 0, sf.when(negative, sf.lit("-0")).otherwise(sf.lit("0")))
        .otherwise(sf.concat(sf.when(negative, sf.lit("-")).otherwise(sf.lit("")), body))
    )
