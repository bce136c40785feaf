"""One packet of a tshark field export as the typed MQTTset columns, in plain Python.

The batch job (inside Spark tasks), the live producer and the tests all parse packets with this
one function, so the packets scored live are the packets scored in batch. It reads the
authors' 60-field export (``mqttids.capture.fields``) by header name, as ingest does: an empty
cell is "field absent" and reads as 0 (the authors' ``fillna(0)``), numbers in any spelling
(:func:`mqttids.schema.number_value`), integers must be integral and within the protocol's
range. The connection fields give ``tcp_stream`` (None outside TCP), ``frame_number`` and
``frame_time_epoch``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from mqttids.schema import COLUMNS, CONNECTION_FIELDS, Column, Kind, bound_text, number_value

FEATURE_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.kind is not Kind.LABEL)
CONNECTION = {c.csv_name: c for c in CONNECTION_FIELDS}
# Keys of a parsed packet besides the 33 features.
STREAM, NUMBER, EPOCH = "tcp_stream", "frame_number", "frame_time_epoch"


class PacketError(ValueError):
    """A row that is not a packet of the export: the text names the column and the value."""


def _number(col: Column, text: str) -> float | int:
    value = number_value(text)
    if value is None:
        raise PacketError(f"{col.name}: not a number {text[:40]!r}")
    if col.is_integer:
        if not value.is_integer():
            raise PacketError(f"{col.name}: not an integer {text[:40]!r}")
        value = int(value)
    if (col.lo is not None and value < col.lo) or (col.hi is not None and value > col.hi):
        hi = bound_text(col.hi) if col.hi is not None else ""
        raise PacketError(f"{col.name}: outside {bound_text(col.lo or 0)}..{hi} {text[:40]!r}")
    return value


def parse(fields: Mapping[str, str]) -> dict[str, object]:
    """The packet of one export row ({tshark field: text}); PacketError says what is wrong."""
    packet: dict[str, object] = {}
    for col in FEATURE_COLUMNS:
        if col.csv_name not in fields:
            raise PacketError(f"the field {col.csv_name} is missing")
        text = (fields[col.csv_name] or "").strip() or "0"
        if col.kind is Kind.TEXT:
            if "\x00" in text:
                raise PacketError(f"{col.name}: contains a NUL character")
            packet[col.name] = text
        else:
            packet[col.name] = _number(col, text)
    stream = (fields.get("tcp.stream") or "").strip()
    packet[STREAM] = _number(CONNECTION["tcp.stream"], stream) if stream else None
    packet[NUMBER] = _number(CONNECTION["frame.number"], (fields.get("frame.number") or "").strip() or "1")
    packet[EPOCH] = float(_number(CONNECTION["frame.time_epoch"], (fields.get("frame.time_epoch") or "0")))
    return packet


def rows(header: Sequence[str], lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """{field: text} of each CSV line (RFC 4180, as tshark quotes) under ``header``."""
    names = [n.strip() for n in header]
    for number, values in enumerate(csv.reader(lines), start=2):
        if len(values) != len(names):
            raise PacketError(f"line {number}: {len(values)} fields, the header has {len(names)}")
        yield dict(zip(names, values, strict=True))


def read_export(path: str | Path) -> Iterator[dict[str, object]]:
    """Every packet of a tshark export or raw per-class CSV, in file order."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        header = next(csv.reader([handle.readline().lstrip("\ufeff")]), [])
        missing = [c.csv_name for c in FEATURE_COLUMNS if c.csv_name not in header]
        if missing:
            raise PacketError(f"{path} is not a tshark export: it lacks {', '.join(missing[:5])}")
        for number, row in enumerate(rows(header, handle), start=2):
            try:
                yield parse(row)
            except PacketError as err:
                raise PacketError(f"{path} line {number}: {err}") from err
