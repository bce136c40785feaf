"""The MQTTset schema: the single source of truth for every job.

MQTTset files have 34 columns named after tshark fields (``tcp.flags``,
``mqtt.hdrflags``...). This module says, once, how each column is renamed,
typed, parsed and constrained. The ingest's parser (:mod:`mqttids.ingest.parsing`), the
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

import csv
from dataclasses import dataclass
from enum import Enum

import pyarrow as pa
import pyarrow.compute as pc


class Kind(Enum):
    """How a raw CSV string becomes a typed value.

    HEX and INT differ only in how people are shown the value (flags in hex): both read every
    spelling of an integer real files use (``24``, ``24.0``, ``0x18``, ``0x00000018``, ``2.4e1``),
    and FLOAT reads the same spellings, so a pandas float column or a hex cell never matters.
    """

    HEX = "hex"  # "0", "0x18", "0x00000018", "24.0" -> integer (must be integral)
    INT = "int"  # "10", "8.0", "1e3", "0x0a" -> integer (must be integral)
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

# tshark fields beyond MQTTset's that tie a packet to its TCP connection (captures and the authors'
# per-class CSVs have them; the train/test files do not). tcp.stream is tshark's own connection
# number, which already tells apart connections that reuse an address and port pair.
CONNECTION_FIELDS: tuple[Column, ...] = (
    Column("tcp.stream", Kind.INT, 0, 2_147_483_647),
    Column("frame.number", Kind.INT, 1, 2_147_483_647),
    Column("frame.time_epoch", Kind.FLOAT, 0, None),
)

# How numbers are spelled in real files. Hex of any width (parsed by value, never by length) ...
HEX_PATTERN = r"^0[xX][0-9a-fA-F]+$"
HEX_DIGITS = 15  # ... up to this many significant digits (a long holds them all) ...
# ... or plain decimal / scientific notation; Java's parser would also take "8d", "1.5f", "0x1p3".
NUMBER_PATTERN = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def number_values(texts: pa.Array) -> pa.Array:
    """The numbers trimmed cells spell (hex or decimal, any width or notation), null where none.

    The one implementation of the spelling rule: the ingest's Arrow parser
    (:mod:`mqttids.ingest.parsing`) calls it on each batch's distinct cells, and
    :func:`number_value` on one cell. Whether a value is integral and in range is checked
    separately. Arrow's casts read ``0x18`` and ``1e3`` but also ``nan`` and ``inf``: the patterns
    decide first what is a number, the casts only compute its value.
    """
    texts = pc.cast(texts, pa.string())
    digits = pc.utf8_ltrim(pc.utf8_slice_codeunits(texts, 2), "0")
    is_hex = pc.and_(
        pc.match_substring_regex(texts, HEX_PATTERN), pc.less_equal(pc.utf8_length(digits), HEX_DIGITS)
    )
    hex_text = pc.binary_join_element_wise("0x", pc.if_else(pc.equal(digits, ""), "0", digits), "")
    as_hex = pc.cast(pc.if_else(is_hex, hex_text, pa.scalar(None, pa.string())), pa.int64())
    is_decimal = pc.match_substring_regex(texts, NUMBER_PATTERN)
    as_decimal = pc.cast(pc.if_else(is_decimal, texts, pa.scalar(None, pa.string())), pa.float64())
    return pc.if_else(is_hex, pc.cast(as_hex, pa.float64()), as_decimal)


def number_value(text: str) -> float | None:
    """The number one cell spells, or None if it is none (:func:`number_values` on one cell)."""
    return number_values(pa.array([text.strip()], pa.string()))[0].as_py()


def label_value(text: str) -> str | None:
    """The MQTTset label a cell names (case and surrounding blanks ignored), or None."""
    label = text.strip().lower()
    return label if label in LABELS else None


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


# Messages quote at most this much of a header: it may be any file's first line.
HEADER_EXCERPT = 40


FEATURES: tuple[str, ...] = tuple(c.csv_name for c in COLUMNS if c.kind is not Kind.LABEL)


@dataclass(frozen=True)
class Header:
    """A file's header matched to the schema by name: where each known column is, and the rest.

    Column order does not matter and unknown columns (pandas' unnamed index, the 27 fields the
    authors dropped) are ignored; ``missing`` lists the MQTTset features the file lacks.
    """

    names: tuple[str, ...]

    def index(self, csv_name: str) -> int | None:
        """The 0-based position of a column in the file, or None if it is not there."""
        return self.names.index(csv_name) if csv_name in self.names else None

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(n for n in FEATURES if n not in self.names)

    @property
    def extra(self) -> tuple[str, ...]:
        """Columns that are ignored, as people would name them (an empty name is an index)."""
        known = set(CSV_NAMES) | {c.csv_name for c in CONNECTION_FIELDS}
        return tuple(
            n if n else f"(unnamed column {i})" for i, n in enumerate(self.names, start=1) if n not in known
        )

    @property
    def labelled(self) -> bool:
        return "target" in self.names

    @property
    def has_connections(self) -> bool:
        return all(c.csv_name in self.names for c in CONNECTION_FIELDS)


def read_header(line: str) -> Header:
    """A header line (RFC 4180, quoted or not, BOM and line end ignored) as a Header."""
    names = next(csv.reader([line.strip("\r\n").lstrip("\ufeff")]), [])
    return Header(tuple(n.strip() for n in names))


def header_problem(line: str) -> str | None:
    """Why a header line cannot be an MQTTset file's (a required feature is missing), else None."""
    missing = read_header(line).missing
    if not missing:
        return None
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    plural = "s" if len(missing) > 1 else ""
    start = line.strip()
    start = start if len(start) <= HEADER_EXCERPT else start[:HEADER_EXCERPT] + "..."
    return f"lacks the column{plural} {shown} (header excerpt: {start!r})"
