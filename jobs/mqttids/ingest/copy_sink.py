"""Streaming parsed rows into PostgreSQL with COPY, from every Spark task.

Spark's JDBC writer sends batched INSERTs, which PostgreSQL parses row by
row and checks constraint by constraint. COPY is the bulk path. Here each
Spark task opens its own connection and streams its partition through
``COPY ... FROM STDIN``, as CSV that Arrow's C++ writer makes from the typed
columns (strings quoted, a null as an empty unquoted cell, doubles in their
shortest exact form).

A task gets Arrow batches from the JVM and turns each into typed rows with a
``prepare`` function (:mod:`mqttids.ingest.parsing` for plain lines, or
nothing when Spark already parsed them), so a batch is parsed, formatted and
sent without going back to the JVM. Every task reports how many rows it wrote
per (table, split, target), which the caller compares with what the tables
hold before publishing anything.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from pyspark import TaskContext

from mqttids.ingest.parsing import REASON
from mqttids.schema import NAMES
from mqttids.warehouse import tables

RESULT_SCHEMA = "ok boolean, split string, target string, rows long"
_RESULT_ARROW = pa.schema(
    [("ok", pa.bool_()), ("split", pa.string()), ("target", pa.string()), ("rows", pa.int64())]
)
_NO_HEADER = pcsv.WriteOptions(include_header=False)
# What ``prepare`` returns: the typed row, the line it came from and why it was rejected (or null).
REJECTED_COLUMNS = ("batch_date", "split", "source_file", "raw_line", "reason")
PREPARED = ("split", "source_file", "raw", REASON, *NAMES, *tables.CONNECTION_COLUMNS)


def _csv(columns: list[pa.Array], names: tuple[str, ...]) -> io.BytesIO:
    out = io.BytesIO()
    pcsv.write_csv(pa.Table.from_arrays(columns, names=list(names)), out, _NO_HEADER)
    out.seek(0)
    return out


def _storable(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """PostgreSQL text cannot hold NUL: quarantined text shows it as U+FFFD instead."""
    return pc.replace_substring(text, "\u0000", "\ufffd")


def _count(rows: pa.Table, ok: bool, counts: Counter) -> None:
    target = pc.fill_null(rows.column("target"), "")
    keys = pc.binary_join_element_wise(rows.column("split"), target, "\x1f")
    for item in pc.value_counts(keys).to_pylist():
        split, target = item["values"].split("\x1f")
        counts[(ok, split, target)] += item["counts"]


def _packets(rows: pa.Table, day: str, part: int) -> io.BytesIO:
    n = rows.num_rows
    columns = [pa.repeat(day, n), rows.column("split"), rows.column("source_file"), pa.repeat(part, n)]
    columns += [rows.column(name) for name in tables.PACKET_COLUMNS[len(tables.LOAD_COLUMNS) :]]
    return _csv(columns, tables.PACKET_COLUMNS)


def _rejected(rows: pa.Table, day: str) -> io.BytesIO:
    columns = [pa.repeat(day, rows.num_rows), rows.column("split"), rows.column("source_file")]
    columns += [_storable(rows.column("raw")), _storable(rows.column(REASON))]
    return _csv(columns, REJECTED_COLUMNS)


def copy_writer(
    connect, packets_sql: str, rejected_sql: str, day: str, prepare: Callable[[pa.RecordBatch], pa.Table]
):
    """A mapInArrow function: prepare each batch, COPY good rows and rejected rows, report counts.

    ``connect`` is a picklable zero-argument callable returning a psycopg2
    connection; ``day`` is the batch date (ISO). Each task commits once at its
    end, so a failed task leaves nothing behind in the staging tables.
    """

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        part = TaskContext.get().partitionId()
        conn = connect()
        counts: Counter = Counter()
        try:
            with conn.cursor() as cur:
                for batch in batches:
                    rows = prepare(batch)
                    ok = pc.is_null(rows.column(REASON))
                    good, bad = rows.filter(ok), rows.filter(pc.invert(ok))
                    if good.num_rows:
                        cur.copy_expert(packets_sql, _packets(good, day, part), size=1 << 20)
                        _count(good, True, counts)
                    if bad.num_rows:
                        cur.copy_expert(rejected_sql, _rejected(bad, day), size=1 << 20)
                        _count(bad, False, counts)
            conn.commit()
        finally:
            conn.close()
        keys = list(counts)
        yield pa.RecordBatch.from_pydict(
            {
                "ok": [k[0] for k in keys],
                "split": [k[1] for k in keys],
                "target": [k[2] for k in keys],
                "rows": [counts[k] for k in keys],
            },
            schema=_RESULT_ARROW,
        )

    return write
