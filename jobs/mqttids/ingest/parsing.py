"""Raw MQTTset text to typed, validated columns, with Arrow's C++ CSV reader and compute kernels.

Everything here is derived from :mod:`mqttids.schema` (its columns, its number spelling rule
:func:`~mqttids.schema.number_values` and its header matching), so parsing and constraints cannot
drift from the schema. It runs in the Spark tasks' Python workers on Arrow batches of lines (the
JVM only reads and splits the files into lines), locally or on a cluster.

A batch's lines go through Arrow's CSV reader as one buffer: RFC 4180 quoting (as tshark, R and
Excel write it) and plain commas alike, and only the columns the schema wants, found by the
file's header (:class:`mqttids.schema.Header`), so any column order works. The reader
dictionary-encodes every cell, so spellings, ranges and reasons are worked out once per distinct
cell of the batch (MQTTset has few), and rows only look their values up. Each row is either
typed or has a reject reason: its first error, in file order, naming the column and the text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from mqttids.schema import (
    COLUMNS,
    CONNECTION_FIELDS,
    CSV_NAMES,
    LABELS,
    Column,
    Header,
    Kind,
    bound_text,
    number_values,
)

REASON = "reject_reason"
MQTTSET_HEADER = Header(CSV_NAMES)
SHOWN = 40  # a reason quotes at most this many characters of the offending cell
ARROW_TYPES = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "double precision": pa.float64(),
    "text": pa.string(),
}
_SPARK_TYPES = {
    "smallint": T.ShortType(),
    "integer": T.IntegerType(),
    "double precision": T.DoubleType(),
    "text": T.StringType(),
}
_INTEGRAL = (Kind.HEX, Kind.INT)
_CELL = pa.dictionary(pa.int32(), pa.string())
_NO_TEXT = pa.scalar(None, pa.string())


def output_columns(header: Header) -> list[Column]:
    """The typed columns a file with this header yields: the 34, plus its connection fields."""
    return list(COLUMNS) + (list(CONNECTION_FIELDS) if header.has_connections else [])


def arrow_schema(header: Header) -> pa.Schema:
    """The Arrow schema of :func:`parse_lines`' result."""
    fields = [pa.field(c.name, ARROW_TYPES[c.pg_type]) for c in output_columns(header)]
    return pa.schema([*fields, pa.field(REASON, pa.string())])


def _range_text(col: Column) -> str:
    lo = "-inf" if col.lo is None else bound_text(col.lo)
    hi = "inf)" if col.hi is None else f"{bound_text(col.hi)}]"
    return f"[{lo}, {hi}"


def _reason(col: Column, raw: str, number: float | None) -> str:
    """Why one invalid cell is invalid (called for the few distinct invalid cells only)."""
    shown = f"'{raw[:SHOWN]}'"
    if raw == "":
        return f"{col.name}: empty value"
    if col.kind is Kind.LABEL:
        return f"{col.name}: unknown label {shown}"
    if col.kind is Kind.TEXT:
        return f"{col.name}: contains a NUL character"
    if number is None:
        what = "a hex or decimal integer" if col.kind in _INTEGRAL else "a number"
        return f"{col.name}: not {what} {shown}"
    if col.kind in _INTEGRAL and number == number and abs(number) != float("inf") and number != round(number):
        return f"{col.name}: not an integer {shown}"
    return f"{col.name}: outside {_range_text(col)} {shown}"


def _valid(col: Column, number: pa.Array) -> pa.Array:
    """Within the protocol range, finite, and integral where the column is an integer."""
    lo = pc.greater_equal(number, col.lo) if col.lo is not None else pc.greater(number, float("-inf"))
    hi = pc.less_equal(number, col.hi) if col.hi is not None else pc.less(number, float("inf"))
    ok = pc.and_(lo, hi)
    if col.kind in _INTEGRAL:  # written "8.0" by pandas, "0x18" by tshark: the same integers
        ok = pc.and_(ok, pc.equal(number, pc.round(number)))
    return pc.fill_null(ok, False)


def _distinct(col: Column, raw: pa.Array, number: pa.Array | None) -> tuple[pa.Array, pa.Array, pa.Array]:
    """For each distinct (trimmed) cell: its typed value, whether it is invalid, and why."""
    if col.kind is Kind.LABEL:
        value = pc.utf8_lower(raw)
        ok = pc.is_in(value, pa.array(LABELS))
    elif col.kind is Kind.TEXT:
        value = raw
        ok = pc.and_(pc.not_equal(raw, ""), pc.invert(pc.match_substring(raw, "\u0000")))
    else:
        ok = _valid(col, number)
        value = pc.cast(pc.if_else(ok, number, None), ARROW_TYPES[col.pg_type])
    bad = pc.invert(ok)
    if bad.true_count == 0:
        return value, bad, pa.nulls(len(raw), pa.string())
    texts, numbers = raw.to_pylist(), number.to_pylist() if number is not None else None
    reasons = [
        _reason(col, texts[i], numbers[i] if numbers else None) if is_bad else None
        for i, is_bad in enumerate(bad.to_pylist())
    ]
    return value, bad, pa.array(reasons, pa.string())


def _numbers(cells: dict[str, pa.Array], numeric: list[Column]) -> dict[str, pa.Array]:
    """:func:`number_values` of every numeric column's distinct cells, in one call per batch."""
    if not numeric:
        return {}
    numbers = number_values(pa.concat_arrays([cells[c.name] for c in numeric]))
    out, start = {}, 0
    for col in numeric:
        out[col.name] = numbers.slice(start, len(cells[col.name]))
        start += len(cells[col.name])
    return out


def _unbroken(lines: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """The lines with a line break inside blanked, and their reasons.

    Hadoop's line reader never yields one, but a DataFrame can hold one, and the CSV reader would
    make two rows of it. A trailing CR is a line end, as the reader takes it.
    """
    texts = [t.rstrip("\r\n") for t in lines.to_pylist()]
    errors = {}
    for i, text in enumerate(texts):
        if "\r" in text or "\n" in text:
            errors[i], texts[i] = "a line break inside the line", ""
    return pa.array(texts, pa.string()), errors


def _count_reason(count: int, width: int) -> str:
    return f"wrong column count: {count} (expected {width})"


def _read(lines: pa.Array, header: Header, wanted: list[Column]) -> tuple[pa.Table, dict[int, str]]:
    """The wanted columns of the lines, dictionary-encoded, and the lines of the wrong width."""
    text = pc.binary_join_element_wise(lines, "", "\n")
    width = len(header.names)
    names = [f"c{i}" for i in range(width)]
    wrong: dict[int, str] = {}

    def skip(row) -> str:
        wrong[row.number - 1] = _count_reason(len(next(csv.reader([row.text]), [])), width)
        return "skip"

    offsets = pa.Array.from_buffers(pa.int32(), len(text) + 1, [None, text.buffers()[1]], offset=text.offset)
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    table = pcsv.read_csv(
        pa.BufferReader(text.buffers()[2].slice(start, end - start)),
        read_options=pcsv.ReadOptions(
            column_names=names, use_threads=False, block_size=max(end - start, 1) + 1
        ),
        parse_options=pcsv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=skip),
        convert_options=pcsv.ConvertOptions(
            include_columns=[names[header.index(c.csv_name)] for c in wanted],
            column_types={names[header.index(c.csv_name)]: _CELL for c in wanted},
        ),
    )
    return table, wrong


def _dictionary(column: pa.ChunkedArray) -> pa.DictionaryArray:
    chunks = column.unify_dictionaries().chunks if column.num_chunks > 1 else column.chunks
    if not chunks:
        return pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
    return pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]


def parse_lines(lines: pa.Array, header: Header = MQTTSET_HEADER, fill_empty: bool = False) -> pa.Table:
    """Parse a batch of lines into the typed columns plus ``reject_reason``, row for row.

    ``header`` says where each column is. A file without a ``target`` column gets a null one
    (the caller fills in the file's label). With ``fill_empty`` an empty cell means "field
    absent" and reads as 0, which is what the MQTTset authors' ``fillna(0)`` made of tshark's
    empty cells. When the header has the connection fields, ``tcp_stream``, ``frame_number`` and
    ``frame_time_epoch`` are parsed too (an empty tcp.stream, a packet outside TCP, gives nulls
    rather than a reject).
    """
    lines = pc.cast(lines, pa.string())
    if len(lines) == 0:
        return arrow_schema(header).empty_table()
    width = len(header.names)
    wanted = [c for c in COLUMNS if not (c.kind is Kind.LABEL and not header.labelled)]
    extras = list(CONNECTION_FIELDS) if header.has_connections else []
    errors: dict[int, str] = {}
    table, wrong = _read(lines, header, wanted + extras)
    if table.num_rows + len(wrong) != len(lines):  # a line made more than one row
        lines, errors = _unbroken(lines)
        table, wrong = _read(lines, header, wanted + extras)
    if width > 1:
        for i in pc.indices_nonzero(pc.equal(lines, "")).to_pylist():
            errors.setdefault(i, _count_reason(1, width))
    errors.update(wrong)
    # Rows the reader skipped get null values: ``rows`` maps each line to its row in ``table``.
    kept = [i for i in range(len(lines)) if i not in wrong] if wrong else None
    rows = None
    if kept is not None:
        position = [None] * len(lines)
        for row, i in enumerate(kept):
            position[i] = row
        rows = pa.array(position, pa.int64())
    dictionaries = {
        c.name: _dictionary(table.column(f"c{header.index(c.csv_name)}")) for c in wanted + extras
    }
    cells = {}
    for col in wanted + extras:
        raw = pc.utf8_trim(dictionaries[col.name].dictionary, " ")
        cells[col.name] = pc.if_else(pc.equal(raw, ""), "0", raw) if fill_empty and col not in extras else raw
    numbers = _numbers(cells, [c for c in wanted + extras if c.kind not in (Kind.TEXT, Kind.LABEL)])
    values, reasons = {}, []
    for col in wanted + extras:
        indices = dictionaries[col.name].indices
        indices = indices if rows is None else pc.take(indices, rows)
        value, bad, reason = _distinct(col, cells[col.name], numbers.get(col.name))
        if col in extras:  # an empty connection field is no error, just unknown
            blank = pc.equal(cells[col.name], "")
            bad, reason = pc.and_(bad, pc.invert(blank)), pc.if_else(blank, _NO_TEXT, reason)
        values[col.name] = pc.take(value, indices)
        if bad.true_count:
            reasons.append(pc.take(reason, indices))
    if errors:
        line_error = pa.array([errors.get(i) for i in range(len(lines))], pa.string())
        reasons.insert(0, line_error)
        bad_line = pc.is_valid(line_error)
        values = {n: pc.if_else(bad_line, pa.scalar(None, v.type), v) for n, v in values.items()}
    reason = pc.coalesce(*reasons) if reasons else pa.nulls(len(lines), pa.string())
    schema = arrow_schema(header)
    columns = [values.get(f.name, pa.nulls(len(lines), f.type)) for f in schema if f.name != REASON]
    return pa.Table.from_arrays([*columns, reason], schema=schema)


def spark_schema(header: Header) -> list[T.StructField]:
    """The Spark fields of the typed columns (and the reason) :func:`parse` adds."""
    fields = [T.StructField(c.name, _SPARK_TYPES[c.pg_type]) for c in output_columns(header)]
    return [*fields, T.StructField(REASON, T.StringType())]


def parse(
    lines: DataFrame,
    line: str,
    keep: list[str],
    header: Header = MQTTSET_HEADER,
    label: str | None = None,
    fill_empty: bool = False,
) -> DataFrame:
    """Parse the ``line`` column into the typed columns plus ``reject_reason``, in Spark tasks.

    The Spark face of :func:`parse_lines`: a file without a ``target`` column takes its label
    from the ``label`` column of ``lines`` (none: unlabelled, allowed for captures). The
    ``keep`` columns are carried through unchanged.
    """
    carried = [*keep, line]
    fields = [lines.schema[c] for c in carried]
    from_file = label if label and not header.labelled else None
    schema = T.StructType([*fields, *spark_schema(header)])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            parsed = parse_lines(batch.column(line), header, fill_empty)
            if from_file:
                target = parsed.schema.get_field_index("target")
                parsed = parsed.set_column(target, "target", pc.cast(batch.column(from_file), pa.string()))
            yield pa.RecordBatch.from_arrays(
                [batch.column(c) for c in carried]
                + [parsed.column(i).combine_chunks() for i in range(parsed.num_columns)],
                names=[*carried, *parsed.column_names],
            )

    return lines.select(*dict.fromkeys([*carried, *([from_file] if from_file else [])])).mapInArrow(
        run, schema
    )
