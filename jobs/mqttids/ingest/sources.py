"""Planning a load: which files each split's path or glob names, what each file is, its class.

A missing file, an empty file, a wrong header or an unknown kind must fail the load with a
message that names the file and the problem, before anything is written. Files are opened
through Hadoop's FileSystem API and its compression codecs (:mod:`mqttids.runtime.hadoop_files`),
so a local path, a glob (``landing/2026-11-28/train*.csv``), a ``gs://`` URI and a
``.gz``/``.bz2`` file are checked the same way Spark will read them.

Each file is classified by its first bytes, not its name: a PCAP/PCAPNG capture (converted by
tshark later), a ZIP archive (refused, listing what is inside), or a CSV whose header is matched
by column name. Files without a ``target`` column (captures, the authors' per-class CSVs) get
their class from the label map (:mod:`labels`); a capture matching no class loads unlabelled.

Only the locations :mod:`mqttids.runtime.input_paths` allows are opened, and messages quote no
more of a file than a short, labelled excerpt of its first line.
"""

from __future__ import annotations

import io
import logging
import posixpath
import zipfile
from dataclasses import dataclass

from pyspark.sql import SparkSession

from mqttids.capture import fields as capture_fields
from mqttids.capture import spark_convert, tshark
from mqttids.ingest.labels import LabelMap, LabelMapError
from mqttids.runtime import hadoop_files, input_paths
from mqttids.schema import Header, read_header

log = logging.getLogger(__name__)

CSV = "csv"
CAPTURE = "capture"
ZIP_MAGIC = b"PK\x03\x04"
COMPRESSED = {b"\x1f\x8b": "gzip (name it .gz)", b"BZh": "bzip2 (name it .bz2)"}
# The tshark export of a capture has the authors' 60 fields, in their order, with a header row.
TSHARK_HEADER = Header(capture_fields.FIELDS)
CAPTURE_NAMES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")  # named like a capture


class SourceError(ValueError):
    """An input file is missing, empty, of an unknown kind or not in MQTTset format."""


@dataclass(frozen=True)
class InputFile:
    """One file of a split: its kind, its header line (CSV) and its class from the label map."""

    path: str
    kind: str
    header_line: str = ""
    label: str | None = None

    @property
    def header(self) -> Header:
        return TSHARK_HEADER if self.kind == CAPTURE else read_header(self.header_line)


@dataclass(frozen=True)
class Source:
    """One split's input: a path, glob or URI, and the files it matched."""

    split: str
    uri: str
    inputs: tuple[InputFile, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.inputs)


def _zip_listing(spark: SparkSession, uri: str) -> str:
    try:
        head = hadoop_files.read_head(spark, uri, 64 << 20, decompress=False)
        members = zipfile.ZipFile(io.BytesIO(head)).namelist()
    except zipfile.BadZipFile:
        return "its contents could not be listed"
    shown = ", ".join(members[:20]) + (f" and {len(members) - 20} more" if len(members) > 20 else "")
    return f"it holds {len(members)} file{'s' if len(members) != 1 else ''}: {shown or 'nothing'}"


def _data_lines(head: bytes) -> list[str]:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def inspect(spark: SparkSession, split: str, uri: str, labels: LabelMap) -> InputFile:
    """What one file is and which class it holds, or SourceError saying why it cannot load."""
    head = hadoop_files.read_head(spark, uri)
    if not head:
        raise SourceError(f"{split} file {uri} is empty: expected a capture, or a CSV header and rows")
    if tshark.MAGIC.get(head[:4]):
        return InputFile(uri, CAPTURE, label=labels.label(uri))
    if uri.lower().endswith(CAPTURE_NAMES):
        raise SourceError(
            f"{split} file {uri} is named like a capture but is not a PCAP or PCAPNG capture "
            f"(its first bytes are {head[:4].hex(' ')})"
        )
    if head.startswith(ZIP_MAGIC):
        raise SourceError(
            f"{split} file {uri} is a ZIP archive, which is not read directly: {_zip_listing(spark, uri)}. "
            "Unzip it and give the files (or a glob of them)"
        )
    for magic, what in COMPRESSED.items():
        if head.startswith(magic):
            raise SourceError(f"{split} file {uri} is compressed with {what}, so that it is read as such")
    lines = _data_lines(head)
    if not lines:
        raise SourceError(f"{split} file {uri} is empty (blank lines only): expected a CSV header and rows")
    header = read_header(lines[0])
    if header.missing:
        shown = ", ".join(header.missing[:5]) + (
            f" and {len(header.missing) - 5} more" if len(header.missing) > 5 else ""
        )
        raise SourceError(
            f"{split} file {uri} is not an MQTTset CSV: it lacks the column"
            f"{'s' if len(header.missing) > 1 else ''} {shown} "
            f"(header excerpt: {input_paths.excerpt(lines[0])})"
        )
    if len(lines) < 2 and len(head) < hadoop_files.HEAD_BYTES:
        raise SourceError(f"{split} file {uri} has a header but no data rows")
    if header.extra:
        log.warning("%s: ignoring columns %s", uri, ", ".join(header.extra))
    label = None
    if not header.labelled:
        label = labels.label(uri)
        if label is None:
            raise SourceError(
                f"{split} file {uri} has no target column in its header and its name matches no "
                f"class of the label map ({labels}): rename it, add a target column, or give "
                "--labels 'pattern=class'"
            )
    return InputFile(uri, CSV, header_line=lines[0].lstrip("\ufeff"), label=label)


def resolve(spark: SparkSession, split: str, uri: str, labels: LabelMap | None = None) -> Source:
    """Expand and check one split's input, or raise SourceError (InputNotAllowed for a refused place)."""
    input_paths.check(uri, f"{split} input")
    files = hadoop_files.glob(spark, uri)
    if not files:
        raise SourceError(f"{split} file not found: {uri} (the path or glob matches no file)")
    labels = labels or LabelMap.parse(None)
    for file in files:
        input_paths.check_matched(file, f"{split} input")
    try:
        inputs = tuple(inspect(spark, split, file, labels) for file in files)
    except LabelMapError as err:
        raise SourceError(f"{split} input {uri}: {err}") from err
    return Source(split=split, uri=uri, inputs=inputs)


def check_label_map(sources: list[Source], labels: LabelMap) -> None:
    """A map the user gave must match at least one file that takes its class from the map."""
    named = [f.path for s in sources for f in s.inputs if not f.header.labelled]
    if labels.given and not any(labels.classes(f) for f in named):
        shown = ", ".join(posixpath.basename(f) for f in named[:10]) or "none"
        raise SourceError(
            f"the label map {labels} matches none of the files that take their class from their "
            f"name ({shown})"
        )


def mqtt_ports(spark: SparkSession, sources: list[Source], configured: list[int]) -> dict[str, list[int]]:
    """Each capture's broker ports to decode as MQTT (its folder's ``corpus.json`` adds one)."""
    captures = [f.path for s in sources for f in s.inputs if f.kind == CAPTURE]
    try:
        return spark_convert.mqtt_ports(spark, captures, configured)
    except spark_convert.ManifestError as err:
        raise SourceError(str(err)) from err


def check_connections(sources: list[Source]) -> None:
    """split_by=connection needs every file to have connection ids (captures, per-class CSVs)."""
    without = [f.path for s in sources for f in s.inputs if not f.header.has_connections]
    if without:
        raise SourceError(
            "split_by connection needs inputs with connection ids (captures, or CSVs with tcp.stream, "
            f"frame.number and frame.time_epoch); these have none: {', '.join(without[:10])}"
        )
