"""tshark exports run by hand, independent of ``mqttids.capture``, to check it against.

The independent export spells the authors' tshark command out here, without ``-n`` and without
``mqttids.capture.fields.export_args``, so the conversion is checked against the recipe itself.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pandas as pd

from mqttids.capture.fields import FIELDS


def read_csv(path: str | Path) -> pd.DataFrame:
    """A tshark CSV as text, empty cells as empty strings, so every cell compares as written."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def independent_export(capture: str | Path, port: int) -> pd.DataFrame:
    """The authors' export of ``capture``, run here by hand and read with pandas."""
    command = ["tshark", "-r", str(capture), "-d", f"tcp.port=={port},mqtt"]
    command += ["-o", "tcp.calculate_timestamps:TRUE", "-T", "fields"]
    command += ["-E", "header=y", "-E", "separator=,", "-E", "quote=d", "-E", "occurrence=f"]
    command += [arg for field in FIELDS for arg in ("-e", field)]
    done = subprocess.run(command, capture_output=True, check=True)
    return pd.read_csv(io.BytesIO(done.stdout), dtype=str, keep_default_na=False)


def query(capture: str | Path, port: int, fields: list[str], display_filter: str = "") -> pd.DataFrame:
    """Any tshark fields of the packets matching ``display_filter`` (every occurrence, '|' apart)."""
    command = ["tshark", "-r", str(capture), "-d", f"tcp.port=={port},mqtt", "-T", "fields"]
    command += ["-E", "header=y", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    command += [arg for field in fields for arg in ("-e", field)]
    if display_filter:
        command += ["-Y", display_filter]
    done = subprocess.run(command, capture_output=True, check=True)
    return pd.read_csv(io.BytesIO(done.stdout), sep="\t", dtype=str, keep_default_na=False)


def capinfos_packets(capture: str | Path) -> int:
    """The packet count of capinfos, a tool independent of tshark's dissection."""
    done = subprocess.run(["capinfos", "-c", "-M", "-T", "-r", str(capture)], capture_output=True, check=True)
    return int(done.stdout.decode().split("\t")[-1])
