"""Build a small corpus of genuine MQTT traffic: one capture per MQTTset behaviour and split.

    python jobs/build_corpus.py data/corpus            # 12 captures and corpus.json, ~12 s
    python jobs/build_corpus.py data/corpus --csv -v   # also each capture's 60-column CSV

It starts its own Mosquitto broker on a free loopback port (never the machine's broker), captures
that port on the loopback interface with dumpcap, and runs real MQTT clients for legitimate,
flood, dos, bruteforce, slowite and malformed traffic, writing <label>-train.pcap and
<label>-test.pcap for each. corpus.json names the broker port: tshark decodes MQTT on 1883 only,
so convert with '-d tcp.port==<port>,mqtt' (the --csv option does). Needs mosquitto,
mosquitto_passwd and dumpcap (scripts/system-deps-capture.sh installs them), paho-mqtt, and the
right to capture on the interface (root, or the wireshark group). See docs/corpus.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mqttids.capture import corpus, tshark


def _labels(text: str) -> tuple[str, ...]:
    """argparse type for --labels: a comma-separated subset of the six behaviours."""
    labels = tuple(label.strip() for label in text.split(",") if label.strip())
    unknown = sorted(set(labels) - set(corpus.LABELS))
    if unknown or not labels:
        raise argparse.ArgumentTypeError(f"unknown labels {unknown}; choose from {', '.join(corpus.LABELS)}")
    return labels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python jobs/build_corpus.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", type=Path, help="where the captures go (created if missing)")
    parser.add_argument(
        "--labels", type=_labels, default=corpus.LABELS, help="comma-separated behaviours (default: all six)"
    )
    parser.add_argument("--interface", default="lo", help="the loopback interface (macOS: lo0; default: lo)")
    parser.add_argument("--csv", action="store_true", help="also write each capture's 60-column CSV")
    parser.add_argument("-v", "--verbose", action="store_true", help="print one line per capture")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    built = corpus.build(args.directory, args.labels, args.interface)
    for capture in built.files:
        line = f"{capture.path}: {capture.label}/{capture.split}, {capture.connections} connections"
        if args.csv:
            converted = tshark.convert(
                capture.path, Path(capture.path).with_suffix(".csv"), [built.mqtt_port]
            )
            line += f", {converted.packets} packets -> {converted.output}"
        if args.verbose:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
