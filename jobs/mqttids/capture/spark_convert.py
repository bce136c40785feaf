"""Converting captures with tshark inside Spark tasks, one tshark process per file.

Ingest (a batch's captures) and detection (the captures to score) both convert here. Each
capture is one task, so many captures convert in parallel on as many cores (or cluster nodes) as
Spark has. A task copies a remote capture (``gs://`` and anything else pyarrow's filesystems
read) to local disk, decompresses a ``.gz``/``.bz2`` one, runs
:func:`mqttids.capture.tshark.convert` and yields the CSV's data lines as rows, followed by one
row describing the conversion (packets, truncation, tshark's stderr) or its error. The lines
are persisted, so tshark runs once per capture however often the rows are read; the driver
collects the descriptions, fails on errors, and reports truncated captures. Each capture carries
a ``tag`` of the caller's (ingest: its split) onto its lines.

The broker ports a capture is decoded with are the caller's, plus the port that a ``corpus.json``
in the capture's folder names (written by ``jobs/build_corpus.py``).
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mqttids.capture import tshark
from mqttids.capture.corpus import MANIFEST
from mqttids.runtime import hadoop_files

log = logging.getLogger(__name__)

ROW_SCHEMA = "tag string, source_file string, raw string, meta string"
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open}


class CaptureError(RuntimeError):
    """A capture could not be converted; the text names each one and why."""


@dataclass(frozen=True)
class Converted:
    """What tshark made of one capture."""

    source_file: str
    packets: int
    truncated: bool
    seconds: float
    stderr: str


def _local_copy(uri: str, work: Path) -> Path:
    """A local, uncompressed path of the capture (the file itself when it is local and plain)."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        local = Path(parts.path if parts.scheme else uri)
    else:
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(uri)
        local = work / Path(path).name
        with filesystem.open_input_stream(path) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    opener = _OPENERS.get(local.suffix.lower())
    if opener is None:
        return local
    plain = work / f"{local.stem}.plain"
    with opener(local, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return plain


def convert_task():
    """The task body: convert each (tag, uri, ports) it is given; yield lines, then a description."""

    def run(items: Iterator[tuple[str, str, list[int]]]) -> Iterator[tuple[str, str, str | None, str | None]]:
        for tag, uri, ports in items:
            with tempfile.TemporaryDirectory(prefix="mqttids-capture-") as tmp:
                work = Path(tmp)
                try:
                    result = tshark.convert(_local_copy(uri, work), work / "export.csv", ports)
                except (tshark.NotACapture, tshark.ConversionError, tshark.TsharkMissing, OSError) as err:
                    yield tag, uri, None, json.dumps({"error": f"{type(err).__name__}: {err}"})
                    continue
                with open(result.output, encoding="utf-8", errors="replace", newline="\n") as lines:
                    next(lines, None)  # tshark's header row
                    for line in lines:
                        yield tag, uri, line.rstrip("\r\n"), None
                meta = {
                    "packets": result.packets,
                    "truncated": result.truncated,
                    "seconds": result.seconds,
                    "stderr": result.stderr,
                }
                yield tag, uri, None, json.dumps(meta)

    return run


@dataclass
class Batch:
    """The converted lines (``raw``, ``source_file``, ``tag``), kept until :meth:`release`."""

    lines: DataFrame
    files: list[Converted]
    _persisted: DataFrame

    def release(self) -> None:
        self._persisted.unpersist()


def convert(spark: SparkSession, captures: list[tuple[str, str, list[int]]]) -> Batch:
    """Convert every (tag, uri, MQTT ports) capture, one task each; the caller releases the result."""
    tshark.find_tshark()  # the driver's node: a clear install message before any task starts
    rdd = spark.sparkContext.parallelize(captures, len(captures)).mapPartitions(convert_task())
    rows = spark.createDataFrame(rdd, ROW_SCHEMA).persist(StorageLevel.MEMORY_AND_DISK)
    described = rows.where(F.col("meta").isNotNull()).select("source_file", "meta").collect()
    errors, done = [], []
    for row in described:
        meta = json.loads(row["meta"])
        if "error" in meta:
            errors.append(f"{row['source_file']}: {meta['error']}")
            continue
        keys = ("packets", "truncated", "seconds", "stderr")
        done.append(Converted(row["source_file"], *(meta[k] for k in keys)))
    if errors:
        rows.unpersist()
        raise CaptureError("capture conversion failed:\n  " + "\n  ".join(errors))
    lines = rows.where(F.col("meta").isNull()).select("raw", "source_file", "tag")
    return Batch(lines, sorted(done, key=lambda c: c.source_file), rows)


class ManifestError(ValueError):
    """A ``corpus.json`` beside captures that names no broker port."""


def mqtt_ports(spark: SparkSession, captures: list[str], configured: list[int]) -> dict[str, list[int]]:
    """Each capture's broker ports to decode as MQTT: the configured ones, plus the port of a
    ``corpus.json`` in the capture's own folder."""
    extra: dict[str, list[int]] = {}
    for folder in sorted({posixpath.dirname(c) for c in captures}):
        manifest = f"{folder}/{MANIFEST}"
        if not hadoop_files.glob(spark, manifest):
            continue
        try:
            text = hadoop_files.read_head(spark, manifest, decompress=False)
            port = int(json.loads(text)["mqtt_port"])
        except (ValueError, KeyError, TypeError) as err:
            raise ManifestError(f"{manifest} does not name an mqtt_port: {err}") from err
        log.info("%s: decoding TCP port %d as MQTT in %s", manifest, port, folder)
        extra[folder] = [port]
    return {c: sorted({*configured, *extra.get(posixpath.dirname(c), [])}) for c in captures}
