"""Which files a scoring run reads, and what each one is.

A run names a file, a folder (every file in it) or a glob, under the allowed input roots
(:mod:`mqttids.runtime.input_paths`): local, or ``gs://`` on Dataproc. The batch job finds and
inspects them through Hadoop's FileSystem API, as Spark reads them (:func:`find`); its tasks
convert the captures (:mod:`mqttids.capture.spark_convert`). The live producer replays one local
file in its own process (:func:`prepare`). Files are recognised by their first bytes: a PCAP or
PCAPNG capture is converted with the MQTTset authors' tshark recipe (the broker ports from
``MQTTIDS_MQTT_PORTS``, the run's ``--mqtt-ports`` and a ``corpus.json`` beside the capture);
a CSV must be a raw per-class CSV (tshark's fields, ``tcp.stream`` among them), because
detections are per connection. The MQTTset train/test CSVs dropped the connection: refused.
"""

from __future__ import annotations

import csv
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from mqttids.capture import tshark
from mqttids.capture.corpus import MANIFEST
from mqttids.detection.packets import FEATURE_COLUMNS
from mqttids.runtime import config, hadoop_files, input_paths

SKIPPED = (MANIFEST,)


class InputError(ValueError):
    """An input that cannot be scored; the text names the file and says why."""


@dataclass(frozen=True)
class Input:
    """One file a batch run scores: its URI as Spark names it, its name in the detections, and
    its header (None for a capture, whose export has tshark's)."""

    uri: str
    capture: str
    header: list[str] | None

    @property
    def is_capture(self) -> bool:
        return self.header is None


def capture_name(uri: str) -> str:
    """How detections name an input: a local file by its real path, any other by its URI."""
    return str(input_paths.local_path(uri)) if input_paths.scheme(uri) == "file" else uri


def _check_header(name: str, header: list[str]) -> None:
    missing = [c.csv_name for c in FEATURE_COLUMNS if c.csv_name not in header]
    if missing:
        raise InputError(
            f"{name} is neither a PCAP/PCAPNG capture nor a raw per-class CSV of tshark fields "
            f"(it lacks {', '.join(missing[:3])})"
        )
    if "tcp.stream" not in header:
        raise InputError(
            f"{name} has no tcp.stream column (an MQTTset train/test CSV?): detections are per "
            "connection, so score the captures or the raw per-class CSVs instead"
        )


def inspect(spark: SparkSession, uri: str) -> Input:
    """What one file is (a capture, or a raw per-class CSV and its header), or InputError."""
    head = hadoop_files.read_head(spark, uri)
    name = capture_name(uri)
    if tshark.MAGIC.get(head[:4]):
        return Input(uri, name, None)
    first = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[:1]
    header = [n.strip() for n in next(csv.reader(first), [])]
    _check_header(name, header)
    return Input(uri, name, header)


def find(spark: SparkSession, uri: str) -> list[Input]:
    """The inputs ``uri`` names (a file, a folder's files, or a glob), sorted, each inspected."""
    input_paths.check(uri, "captures")
    if hadoop_files.is_folder(spark, uri):
        found = hadoop_files.listing(spark, uri)
    else:
        found = hadoop_files.glob(spark, uri)
    files = [f for f in found if posixpath.basename(f) not in SKIPPED]
    for file in files:
        input_paths.check_matched(file, "captures")
    if not files:
        raise InputError(f"captures not found: {uri} (the path, folder or glob matches no file)")
    return sorted((inspect(spark, f) for f in files), key=lambda i: i.capture)


def configured_ports(given: list[int]) -> list[int]:
    """The MQTT broker ports of every capture: the setting's and the run's."""
    return sorted({*(int(p) for p in config.MQTT_PORTS.get().split(",") if p.strip()), *given})


def ports(capture: Path, given: list[int]) -> list[int]:
    """The MQTT broker ports for one local capture: the configured ones and its folder's manifest."""
    found = configured_ports(given)
    manifest = capture.parent / MANIFEST
    if manifest.is_file():
        port = json.loads(manifest.read_text()).get("mqtt_port")
        if isinstance(port, int):
            found.append(port)
    return sorted(set(found))


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return [n.strip() for n in next(csv.reader([handle.readline().lstrip("\ufeff")]), [])]


def prepare(path: Path, work: Path, mqtt_ports: list[int]) -> Path:
    """A local file as a tshark export, in this process (the live producer's replay): a capture
    converted into ``work``, a raw per-class CSV as it is."""
    if tshark.capture_format(path) is None:
        _check_header(str(path), _header(path))
        return path
    try:
        return tshark.convert(path, work / f"{path.stem}.csv", ports(path, mqtt_ports)).output
    except (tshark.NotACapture, tshark.ConversionError) as err:
        raise InputError(str(err)) from err
