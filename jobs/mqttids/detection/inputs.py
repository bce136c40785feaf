"""Which files a scoring run reads, and each one as a tshark export ready to parse.

A run names a file, a folder (every file in it) or a glob, local and under the allowed input
roots (:mod:`mqttids.runtime.input_paths`). Files are recognised by their first bytes: a PCAP
or PCAPNG capture is converted with the MQTTset authors' tshark recipe (the broker ports from
``MQTTIDS_MQTT_PORTS``, the run's ``--mqtt-ports`` and a ``corpus.json`` beside the capture);
a CSV must be a raw per-class CSV (tshark's fields, ``tcp.stream`` among them), because
detections are per connection. The MQTTset train/test CSVs dropped the connection: refused.
"""

from __future__ import annotations

import csv
import glob
import json
from dataclasses import dataclass
from pathlib import Path

from mqttids.capture import tshark
from mqttids.detection.packets import FEATURE_COLUMNS
from mqttids.runtime import config, input_paths

MANIFEST = "corpus.json"  # written beside captures by jobs/build_corpus.py: names the broker port
SKIPPED = (MANIFEST,)


class InputError(ValueError):
    """An input that cannot be scored; the text names the file and says why."""


@dataclass(frozen=True)
class Export:
    """One input as a CSV of tshark fields: the capture it came from, the CSV, its header."""

    capture: str
    csv: Path
    header: list[str]
    converted: bool
    truncated: bool = False


def expand(uri: str) -> list[Path]:
    """The files ``uri`` names (a file, a folder's files, or a glob), sorted; checked first."""
    input_paths.check(uri, "captures")
    path = Path(uri)
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    else:
        found = [Path(p) for p in glob.glob(uri) if Path(p).is_file()]
    files = sorted(p.resolve() for p in found if p.name not in SKIPPED)
    for file in files:
        input_paths.check_matched(str(file), "captures")
    if not files:
        raise InputError(f"captures not found: {uri} (the path, folder or glob matches no file)")
    return files


def ports(capture: Path, given: list[int]) -> list[int]:
    """The MQTT broker ports for one capture: the setting, the run's and its folder's manifest."""
    found = [int(p) for p in config.MQTT_PORTS.get().split(",") if p.strip()] + list(given)
    manifest = capture.parent / MANIFEST
    if manifest.is_file():
        port = json.loads(manifest.read_text()).get("mqtt_port")
        if isinstance(port, int):
            found.append(port)
    return sorted(set(found))


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return [n.strip() for n in next(csv.reader([handle.readline().lstrip("\ufeff")]), [])]


def prepare(path: Path, work: Path, mqtt_ports: list[int]) -> Export:
    """The file as a tshark export: a capture converted into ``work``, a raw CSV as it is."""
    if tshark.capture_format(path) is not None:
        out = work / f"{len(list(work.iterdir()))}-{path.stem}.csv"
        try:
            done = tshark.convert(path, out, ports(path, mqtt_ports))
        except (tshark.NotACapture, tshark.ConversionError) as err:
            raise InputError(str(err)) from err
        return Export(str(path), out, _header(out), True, done.truncated)
    header = _header(path)
    missing = [c.csv_name for c in FEATURE_COLUMNS if c.csv_name not in header]
    if missing:
        raise InputError(
            f"{path} is neither a PCAP/PCAPNG capture nor a raw per-class CSV of tshark fields "
            f"(it lacks {', '.join(missing[:3])})"
        )
    if "tcp.stream" not in header:
        raise InputError(
            f"{path} has no tcp.stream column (an MQTTset train/test CSV?): detections are per "
            "connection, so score the captures or the raw per-class CSVs instead"
        )
    return Export(str(path), path, header, False)
