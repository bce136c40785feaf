"""The MQTTset schema: the single source of truth for every job.

MQTTset files have 34 columns named after tshark fields (``tcp.flags``,
``mqtt.hdrflags``...). This module says, once, how each column is renamed,
typed, parsed and constrained. Spark parsing (:mod:`mqttids.ingest.parsing`), the
column order ingest writes (:mod:`mqttids.warehouse.tables`) and the sample generator all
derive from :data:`COLUMNS`. The table ``mqtt.packets`` is frozen in the warehouse
migrations instead (a revision must never change), and tests/warehouse checks that the
migrated table still matches this module: changing a column here needs a new revision.

The constraints are deliberately the protocol's own field widths, not the
ranges seen in one capture, because every genuine row must pass them:
``tcp.time_delta`` is sometimes negative (clock jitter), ``0`` means "field
absent" in every MQTT column, and hex flags come in any width
(``0x00000018``, ``0x0018`` and ``0x18`` are the same value).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """How a raw CSV string becomes a typed value."""

    HEX = "hex"  # "0" or "0x..." of any width -> integer
    INT = "int"  # "10", "8.0" or "2800.0" -> integer (must be integral)
    FLOAT = "float"  # "0.0", "6.7E-5", "2.4064e-05" -> double precision
    TEXT = "text"  # kept verbatim (hex payloads would be destroyed by a cast)
    LABEL = "label"  # one of LABELS


@dataclass(frozen=True)
class Column:
    """One MQTTset column: its file name, table name, type and valid range."""

    csv_name: str
    kind: Kind
    lo: float | None = None
    hi: float | None = None

    @property
    def name(self) -> str:
        """The SQL-friendly name: dots become underscores."""
        return self.csv_name.replace(".", "_")

    @property
    def pg_type(self) -> str:
        """PostgreSQL type: the narrowest one that holds the protocol range."""
        if self.kind in (Kind.TEXT, Kind.LABEL):
            return "text"
        if self.kind is Kind.FLOAT:
            return "double precision"
        assert self.hi is not None
        return "smallint" if self.hi <= 32767 else "integer"

    @property
    def is_integer(self) -> bool:
        return self.kind in (Kind.HEX, Kind.INT)


LABELS: tuple[str, ...] = (
    "legitimate",
    "dos",
    "bruteforce",
    "malformed",
    "slowite",
    "flood",
)

SPLITS: tuple[str, ...] = ("train", "test")

_BIT = (0, 1)  # one-bit flags
_BYTE = (0, 255)
_U16 = (0, 65535)

COLUMNS: tuple[Column, ...] = (
    Column("tcp.flags", Kind.HEX, 0, 4095),  # 12-bit TCP flags field
    # Negative deltas exist in the real data (min -0.000002): allow jitter.
    Column("tcp.time_delta", Kind.FLOAT, -1.0, None),
    Column("tcp.len", Kind.INT, *_U16),
    Column("mqtt.conack.flags", Kind.HEX, *_BYTE),
    Column("mqtt.conack.flags.reserved", Kind.INT, *_BIT),
    Column("mqtt.conack.flags.sp", Kind.INT, *_BIT),
    Column("mqtt.conack.val", Kind.INT, *_BYTE),
    Column("mqtt.conflag.cleansess", Kind.INT, *_BIT),
    Column("mqtt.conflag.passwd", Kind.INT, *_BIT),
    Column("mqtt.conflag.qos", Kind.INT, 0, 3),
    Column("mqtt.conflag.reserved", Kind.INT, *_BIT),
    Column("mqtt.conflag.retain", Kind.INT, *_BIT),
    Column("mqtt.conflag.uname", Kind.INT, *_BIT),
    Column("mqtt.conflag.willflag", Kind.INT, *_BIT),
    Column("mqtt.conflags", Kind.HEX, *_BYTE),
    Column("mqtt.dupflag", Kind.INT, *_BIT),
    Column("mqtt.hdrflags", Kind.HEX, *_BYTE),
    Column("mqtt.kalive", Kind.INT, *_U16),
    Column("mqtt.len", Kind.INT, 0, 268_435_455),  # MQTT's variable-length limit
    Column("mqtt.msg", Kind.TEXT),
    Column("mqtt.msgid", Kind.INT, *_U16),
    Column("mqtt.msgtype", Kind.INT, 0, 15),
    Column("mqtt.proto_len", Kind.INT, *_U16),
    Column("mqtt.protoname", Kind.TEXT),
    Column("mqtt.qos", Kind.INT, 0, 3),
    Column("mqtt.retain", Kind.INT, *_BIT),
    Column("mqtt.sub.qos", Kind.INT, 0, 3),
    Column("mqtt.suback.qos", Kind.INT, *_BYTE),  # 0x80 is "failure"
    Column("mqtt.ver", Kind.INT, *_BYTE),
    Column("mqtt.willmsg", Kind.FLOAT),  # always 0 in MQTTset, but numeric there
    Column("mqtt.willmsg_len", Kind.INT, *_U16),
    Column("mqtt.willtopic", Kind.FLOAT),
    Column("mqtt.willtopic_len", Kind.INT, *_U16),
    Column("target", Kind.LABEL),
)

CSV_NAMES: tuple[str, ...] = tuple(c.csv_name for c in COLUMNS)
NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
CSV_HEADER: str = ",".join(CSV_NAMES)
FLAG_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind is Kind.HEX)


def column(name: str) -> Column:
    """Look a column up by its table name or its file name."""
    for col in COLUMNS:
        if name in (col.name, col.csv_name):
            return col
    raise KeyError(f"not an MQTTset column: {name!r}")


def bound_text(value: float) -> str:
    """A bound as people and SQL read it: exact, with no exponent (268435455, -1)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def canonical_hex(value: int) -> str:
    """How flags are shown to people: lower-case, at least two digits (``0x02``)."""
    return f"0x{value:02x}"


# Messages quote at most this much of a column name: the "header" may be any file's first line.
HEADER_EXCERPT = 40


def header_problem(header: str) -> str | None:
    """Explain how a file's header line differs from MQTTset's, or None if it matches."""
    names = [n.strip() for n in header.strip().lstrip("\ufeff").split(",")]
    if names == list(CSV_NAMES):
        return None
    if len(names) != len(CSV_NAMES):
        return (
            f"has {len(names)} columns in its header, expected {len(CSV_NAMES)} "
            f"({CSV_NAMES[0]}, ..., {CSV_NAMES[-1]})"
        )
    for i, (got, want) in enumerate(zip(names, CSV_NAMES, strict=True), start=1):
        if got != want:
            shown = got if len(got) <= HEADER_EXCERPT else got[:HEADER_EXCERPT] + "..."
            return f"header column {i} is {shown!r}, expected {want!r}"
    return None  # pragma: no cover - unreachable: lists differ somewhere
