"""Spark expressions that turn raw MQTTset text into typed, validated columns.

Everything here is derived from :mod:`mqttids.schema` (its columns, its number spellings and its
header matching), so parsing and constraints cannot drift from the schema. All of it is plain
Spark SQL (no Python UDFs): it runs inside the JVM at full speed, locally or on a cluster.

Parsing happens in three projections (fields, numbers, checks) so that each value is computed
once and every expression stays small. Each column yields a typed value (null when invalid) and
an error (null when valid, else a human-readable reason naming the column and the offending
text); a row's reject reason is its first error.

Fields are found by the file's header (:class:`mqttids.schema.Header`), so any column order
works. Lines without a double quote (every MQTTset train/test file) are split on commas, which
is exact and cheap; lines with one (RFC 4180 quoting, as tshark, R and Excel write it) go
through a quote-aware tokenizer.
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mqttids.schema import (
    COLUMNS,
    CONNECTION_FIELDS,
    CSV_NAMES,
    HEX_DIGITS,
    HEX_PATTERN,
    LABELS,
    NUMBER_PATTERN,
    Column,
    Header,
    Kind,
    bound_text,
)

REASON = "reject_reason"
MQTTSET_HEADER = Header(CSV_NAMES)
# One RFC 4180 field: quoted (with "" for a quote) or bare, after the line start or a comma.
# Possessive quantifiers: Java's regex recurses per repetition otherwise, and a 64 KiB mqtt.msg
# (a flood payload) overflows the stack.
# A field that does not start with a quote is taken as written, quotes and all (as Python's csv
# module and pandas do), and so is a quoted one that does not end at a comma.
QUOTED_FIELD = r'(?:^|,)("(?:[^"]++|"")*+"(?=,|$)|[^,]*+)'
_SPARK_TYPES = {"smallint": "smallint", "integer": "int", "double precision": "double", "text": "string"}
_INTEGRAL = (Kind.HEX, Kind.INT)


def _raw(col: Column) -> str:
    return f"_raw_{col.name}"


def _num(col: Column) -> str:
    return f"_num_{col.name}"


def _number(raw: SparkColumn) -> SparkColumn:
    """The raw text as a double (null when it is no number), by :func:`mqttids.schema.number_value`.

    The common cells ("0", "0.0") are answered by a string comparison; hex goes through
    ``conv``, the rest through a cast. Kept free of conditionals around the conversion so Spark
    evaluates it once per cell; the checks in :func:`_valid` then only read the result.
    """
    digits = F.ltrim(F.substring(raw, 3, 1000), F.lit("0"))
    as_hex = F.when(digits == "", F.lit(0.0)).when(
        F.length(digits) <= HEX_DIGITS, F.conv(digits, 16, 10).try_cast("double")
    )
    is_hex = raw.startswith("0x") | raw.startswith("0X")
    return (
        F.when(raw.isin("0", "0.0"), F.lit(0.0))
        .when(is_hex, F.when(raw.rlike(HEX_PATTERN), as_hex))
        .when(raw.rlike(NUMBER_PATTERN), raw.try_cast("double"))
    )


def _valid(col: Column, number: SparkColumn) -> SparkColumn:
    """Within the protocol range (and integral where the column is an integer).

    NaN and infinities are never valid: NaN compares greater than every
    number in Spark, so an upper bound (or ``< inf``) rules both out.
    """
    ok = number >= F.lit(col.lo) if col.lo is not None else number > F.lit(float("-inf"))
    ok = ok & (number <= F.lit(col.hi) if col.hi is not None else number < F.lit(float("inf")))
    if col.kind in _INTEGRAL:  # written "8.0" by pandas, "0x18" by tshark: the same integers
        ok = ok & (number == F.rint(number))
    return ok


def _range_text(col: Column) -> str:
    lo = "-inf" if col.lo is None else bound_text(col.lo)
    hi = "inf)" if col.hi is None else f"{bound_text(col.hi)}]"
    return f"[{lo}, {hi}"


def _label(raw: SparkColumn) -> SparkColumn:
    return F.lower(raw)  # already trimmed


def _error(col: Column, raw: SparkColumn, number: SparkColumn | None) -> SparkColumn:
    """Null when the value is valid, else why not."""
    shown = F.concat(F.lit("'"), F.substring(raw, 1, 40), F.lit("'"))
    error = F.when(raw == "", F.lit(f"{col.name}: empty value"))
    if col.kind is Kind.LABEL:
        return error.when(~_label(raw).isin(*LABELS), F.concat(F.lit(f"{col.name}: unknown label "), shown))
    if number is None:  # text: PostgreSQL cannot store NUL characters
        return error.when(raw.contains("\u0000"), F.lit(f"{col.name}: contains a NUL character"))
    what = "a hex or decimal integer" if col.kind in _INTEGRAL else "a number"
    error = error.when(number.isNull(), F.concat(F.lit(f"{col.name}: not {what} "), shown))
    if col.kind in _INTEGRAL:
        error = error.when(number != F.rint(number), F.concat(F.lit(f"{col.name}: not an integer "), shown))
    return error.when(
        ~_valid(col, number), F.concat(F.lit(f"{col.name}: outside {_range_text(col)} "), shown)
    )


def _unquote(field: SparkColumn) -> SparkColumn:
    """A tokenized field without its surrounding quotes, ``""`` turned back into ``"``."""
    inner = F.replace(F.substring(field, F.lit(2), F.length(field) - 2), F.lit('""'), F.lit('"'))
    quoted = field.startswith('"') & field.endswith('"') & (F.length(field) >= 2)
    return F.when(quoted, inner).otherwise(field)


def split_fields(line: SparkColumn) -> SparkColumn:
    """The line's fields as an array: a plain split, or RFC 4180 tokens when it has quotes."""
    tokens = F.transform(F.regexp_extract_all(line, F.lit(QUOTED_FIELD), 1), _unquote)
    return F.when(line.contains('"'), tokens).otherwise(F.split(line, ",", -1))


def parse(
    lines: DataFrame,
    line: str,
    keep: list[str],
    header: Header = MQTTSET_HEADER,
    label: str | None = None,
    fill_empty: bool = False,
) -> DataFrame:
    """Parse the ``line`` column into the 34 typed columns plus ``reject_reason``.

    ``header`` says where each column is. A file without a ``target`` column takes its label
    from the ``label`` column of ``lines`` (null: unlabelled, allowed for captures). With
    ``fill_empty`` an empty cell means "field absent" and reads as 0, which is what the MQTTset
    authors' ``fillna(0)`` made of tshark's empty cells. When the header has the connection
    fields, ``tcp_stream``, ``frame_number`` and ``frame_time_epoch`` are parsed too (an empty
    tcp.stream, a packet outside TCP, gives nulls rather than a reject). The ``keep`` columns
    are carried through unchanged.
    """
    fields = split_fields(F.col(line))
    wanted = [c for c in COLUMNS if not (c.kind is Kind.LABEL and not header.labelled)]
    extras = list(CONNECTION_FIELDS) if header.has_connections else []

    def cell(col: Column) -> SparkColumn:
        text = F.trim(F.get(fields, header.index(col.csv_name)))
        return F.when(text == "", F.lit("0")).otherwise(text) if fill_empty else text

    with_fields = lines.select(
        *keep,
        line,
        F.size(fields).alias("_fields"),
        *[cell(c).alias(_raw(c)) for c in wanted],
        *[F.trim(F.get(fields, header.index(c.csv_name))).alias(_raw(c)) for c in extras],
    )
    numeric = [c for c in wanted + extras if c.kind not in (Kind.TEXT, Kind.LABEL)]
    with_numbers = with_fields.select("*", *[_number(F.col(_raw(c))).alias(_num(c)) for c in numeric])
    line_error = F.when(
        F.col("_fields") != len(header.names),
        F.concat(
            F.lit("wrong column count: "),
            F.col("_fields").cast("string"),
            F.lit(f" (expected {len(header.names)})"),
        ),
    )
    values, errors = [], []
    for col in COLUMNS:
        if col not in wanted:  # the label of the whole file
            values.append(
                F.col(label).cast("string").alias(col.name) if label else F.lit(None).alias(col.name)
            )
            continue
        raw = F.col(_raw(col))
        number = F.col(_num(col)) if col in numeric else None
        if col.kind is Kind.LABEL:
            value = _label(raw)
        else:
            value = raw if number is None else F.when(_valid(col, number), number)
        values.append(value.cast(_SPARK_TYPES[col.pg_type]).alias(col.name))
        errors.append(_error(col, raw, number))
    for col in extras:
        raw, number = F.col(_raw(col)), F.col(_num(col))
        values.append(F.when(_valid(col, number), number).cast(_SPARK_TYPES[col.pg_type]).alias(col.name))
        errors.append(F.when(raw != "", _error(col, raw, number)))
    return with_numbers.select(*keep, line, *values, F.coalesce(line_error, *errors).alias(REASON))
