"""Convert one capture file into the authors' 60-column CSV with one tshark process.

tshark writes straight to the output file, so a capture of any size streams through without being
held in memory. The errors say what to do: tshark missing, a file that is not a capture, and a
capture cut short (the packets before the cut are kept and the result says so, because a capture
copied or rotated while it was being written is common and its packets are still good).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mqttids.capture.fields import MQTT_PORT, export_args

INSTALL_HINT = (
    "tshark (Wireshark's command-line tool) is needed to read captures and was not found on PATH. "
    "Install it: Debian/Ubuntu 'apt-get install tshark', Fedora/RHEL 'dnf install wireshark-cli', "
    "macOS 'brew install wireshark', Windows: the Wireshark installer (https://www.wireshark.org)."
)

# The first bytes of each capture format tshark reads natively, by format name.
MAGIC: dict[bytes, str] = {
    b"\xd4\xc3\xb2\xa1": "pcap",  # microseconds, little-endian
    b"\xa1\xb2\xc3\xd4": "pcap",  # microseconds, big-endian
    b"\x4d\x3c\xb2\xa1": "pcap-ns",  # nanoseconds, little-endian
    b"\xa1\xb2\x3c\x4d": "pcap-ns",  # nanoseconds, big-endian
    b"\x0a\x0d\x0d\x0a": "pcapng",  # section header block
}

CUT_SHORT = "appears to have been cut short in the middle of a packet"
NOT_A_CAPTURE = "isn't a capture file in a format TShark understands"
STDERR_EXCERPT = 2000


class TsharkMissing(RuntimeError):
    """tshark is not installed (or not on PATH)."""


class NotACapture(ValueError):
    """The file is not a PCAP or PCAPNG capture."""


class ConversionError(RuntimeError):
    """tshark failed on a capture for another reason than a cut."""


@dataclass(frozen=True)
class Conversion:
    """What one conversion produced: the CSV, its packet rows, and whether the capture was cut."""

    source: Path
    output: Path
    packets: int
    truncated: bool
    seconds: float
    stderr: str


def capture_format(path: str | Path) -> str | None:
    """The capture format of ``path`` by its magic bytes ("pcap", "pcap-ns", "pcapng"), else None.

    Ingest routes files by content, so a capture named ``.csv`` or ``.dump`` is still found.
    """
    with open(path, "rb") as handle:
        return MAGIC.get(handle.read(4))


def find_tshark(program: str = "tshark") -> str:
    """The path of the tshark executable, or TsharkMissing saying how to install it."""
    found = shutil.which(program)
    if found is None:
        raise TsharkMissing(INSTALL_HINT)
    return found


def convert(
    source: str | Path,
    output: str | Path,
    mqtt_ports: Sequence[int] = (MQTT_PORT,),
    program: str = "tshark",
) -> Conversion:
    """Write the authors' 60-column CSV of the capture ``source`` to ``output``.

    ``mqtt_ports`` are the broker ports to decode as MQTT (tshark knows only 1883 by itself).
    """
    source, output = Path(source), Path(output)
    if capture_format(source) is None:
        raise NotACapture(f"{source} is not a PCAP or PCAPNG capture (unknown magic bytes)")
    tshark = find_tshark(program)
    started = time.monotonic()
    with open(output, "wb") as sink:
        done = subprocess.run(
            [tshark, *export_args(str(source), mqtt_ports)], stdout=sink, stderr=subprocess.PIPE
        )
    seconds = time.monotonic() - started
    stderr = _excerpt(done.stderr.decode(errors="replace"))
    truncated = done.returncode != 0 and CUT_SHORT in stderr
    if done.returncode != 0 and not truncated:
        if NOT_A_CAPTURE in stderr:
            raise NotACapture(f"{source} is not a capture tshark can read: {stderr}")
        raise ConversionError(f"tshark failed on {source} (exit {done.returncode}): {stderr}")
    return Conversion(source, output, _rows(output), truncated, seconds, stderr)


def _excerpt(stderr: str) -> str:
    """tshark's stderr without the root warning, cut to a length fit for a log line or a table."""
    lines = [line for line in stderr.splitlines() if line and not line.startswith("Running as user")]
    return "\n".join(lines)[:STDERR_EXCERPT]


def _rows(csv: Path) -> int:
    """Data rows of a tshark CSV: its lines minus the header (values never hold a raw newline)."""
    with open(csv, "rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0)
