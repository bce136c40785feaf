"""Spark expressions that turn raw MQTTset text into typed, validated columns.

Everything here is derived from :data:`mqttids.schema.COLUMNS`, so parsing
and constraints cannot drift from the schema. All of it is plain Spark SQL
(no Python UDFs): it runs inside the JVM at full speed, locally or on a
cluster.

Parsing happens in three projections (fields, numbers, checks) so that each
value is computed once and every expression stays small enough for Spark's
whole-stage code generation. Each column yields a typed value (null when
invalid) and an error (null when valid, else a human-readable reason naming
the column and the offending text); a row's reject reason is its first error.
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mqttids.schema import COLUMNS, LABELS, Column, Kind, bound_text

# Hex of any width (leading zeros are stripped before the length limit applies), or decimal digits.
INTEGER_PATTERN = r"^(0[xX]0*[0-9a-fA-F]{1,15}|[0-9]{1,18})$"
# Plain decimal or scientific notation only: Java's parser would also take "8d", "1.5f", "0x1p3".
NUMBER_PATTERN = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
REASON = "reject_reason"
_SPARK_TYPES = {"smallint": "smallint", "integer": "int", "double precision": "double", "text": "string"}


def _raw(col: Column) -> str:
    return f"_raw_{col.name}"


def _num(col: Column) -> str:
    return f"_num_{col.name}"


def _number(col: Column, raw: SparkColumn) -> SparkColumn:
    """The raw text as a number (null when it is not one), before any check.

    Kept free of conditionals around the conversion so Spark evaluates it
    once per cell; the checks in :func:`_valid` then only read the result.
    """
    if col.kind is Kind.HEX:
        # "0", decimal digits, or 0x... of any width: parsed by value, never by length.
        digits = F.ltrim(F.substring(raw, 3, 1000), F.lit("0"))
        as_hex = F.when(digits == "", F.lit(0).cast("long")).otherwise(
            F.conv(digits, 16, 10).try_cast("long")
        )
        return F.when(raw == "0", F.lit(0).cast("long")).when(
            raw.rlike(INTEGER_PATTERN),
            F.when(raw.startswith("0x") | raw.startswith("0X"), as_hex).otherwise(raw.try_cast("long")),
        )
    zero = F.lit(0.0)
    return F.when(raw.isin("0", "0.0"), zero).when(raw.rlike(NUMBER_PATTERN), raw.try_cast("double"))


def _valid(col: Column, number: SparkColumn) -> SparkColumn:
    """Within the protocol range (and integral where the column is an integer).

    NaN and infinities are never valid: NaN compares greater than every
    number in Spark, so an upper bound (or ``< inf``) rules both out.
    """
    ok = number >= F.lit(col.lo) if col.lo is not None else number > F.lit(float("-inf"))
    ok = ok & (number <= F.lit(col.hi) if col.hi is not None else number < F.lit(float("inf")))
    if col.kind is Kind.INT:  # written as "8.0" in the files
        ok = ok & (number == F.rint(number))
    return ok


def _range_text(col: Column) -> str:
    lo = "-inf" if col.lo is None else bound_text(col.lo)
    hi = "inf)" if col.hi is None else f"{bound_text(col.hi)}]"
    return f"[{lo}, {hi}"


def _error(col: Column, raw: SparkColumn, number: SparkColumn | None) -> SparkColumn:
    """Null when the value is valid, else why not."""
    shown = F.concat(F.lit("'"), F.substring(raw, 1, 40), F.lit("'"))
    error = F.when(raw == "", F.lit(f"{col.name}: empty value"))
    if col.kind is Kind.LABEL:
        return error.when(~raw.isin(*LABELS), F.concat(F.lit(f"{col.name}: unknown label "), shown))
    if number is None:  # text: PostgreSQL cannot store NUL characters
        return error.when(raw.contains("\u0000"), F.lit(f"{col.name}: contains a NUL character"))
    what = "a hex or decimal integer" if col.kind is Kind.HEX else "a number"
    error = error.when(number.isNull(), F.concat(F.lit(f"{col.name}: not {what} "), shown))
    if col.kind is Kind.INT:
        error = error.when(number != F.rint(number), F.concat(F.lit(f"{col.name}: not an integer "), shown))
    return error.when(
        ~_valid(col, number), F.concat(F.lit(f"{col.name}: outside {_range_text(col)} "), shown)
    )


def parse(lines: DataFrame, line: str, keep: list[str]) -> DataFrame:
    """Parse the ``line`` column into the 34 typed columns plus ``reject_reason``.

    MQTTset files never quote fields (payloads are hex), so a plain split on
    commas is exact and the raw line can be kept verbatim for quarantine.
    The ``keep`` columns are carried through unchanged.
    """
    fields = F.split(F.col(line), ",", -1)
    with_fields = lines.select(
        *keep,
        line,
        F.size(fields).alias("_fields"),
        *[F.trim(F.get(fields, i)).alias(_raw(c)) for i, c in enumerate(COLUMNS)],
    )
    numeric = [c for c in COLUMNS if c.kind not in (Kind.TEXT, Kind.LABEL)]
    with_numbers = with_fields.select("*", *[_number(c, F.col(_raw(c))).alias(_num(c)) for c in numeric])
    line_error = F.when(
        F.col("_fields") != len(COLUMNS),
        F.concat(
            F.lit("wrong column count: "),
            F.col("_fields").cast("string"),
            F.lit(f" (expected {len(COLUMNS)})"),
        ),
    )
    values, errors = [], []
    for col in COLUMNS:
        raw = F.col(_raw(col))
        number = F.col(_num(col)) if col in numeric else None
        value = raw if number is None else F.when(_valid(col, number), number)
        values.append(value.cast(_SPARK_TYPES[col.pg_type]).alias(col.name))
        errors.append(_error(col, raw, number))
    return with_numbers.select(*keep, line, *values, F.coalesce(line_error, *errors).alias(REASON))
