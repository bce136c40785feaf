"""The live producer the platform ships: packets into a Kafka topic, from a capture or an interface.

Each packet is parsed where it is captured (:mod:`mqttids.detection.packets`, the batch job's
parser) and published as one JSON message: the capture name, the packet's columns and the time
it was published (the live consumer's latency is measured from it). Messages are keyed by
capture, so a capture's packets stay in capture order on one partition (the live consumer counts
a packet's peers, :mod:`mqttids.connection.peers`, in that order). A replay sends
a capture (or raw CSV) at a given rate, ``loops`` times with the connections renumbered and the
times shifted each loop (a longer stream from one capture, for the bench); ``--interface`` runs
tshark on a network interface with the MQTTset authors' field export and publishes what it
sees. Either way an end marker on every partition closes the capture.
"""

from __future__ import annotations

import csv
import logging
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka.errors import KafkaError

from mqttids.capture import fields, tshark
from mqttids.detection import inputs, packets
from mqttids.runtime import broker

log = logging.getLogger(__name__)

PACKET, END = "packet", "end"


@dataclass(frozen=True)
class ProduceResult:
    published: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0


def message(capture: str, packet: dict) -> dict:
    return {"type": PACKET, "capture": capture, "packet": packet, "published_at": time.time()}


def end_marker(capture: str, partitions: int) -> dict:
    """The message that closes ``capture`` on one partition (one is sent to each of them)."""
    return {"type": END, "capture": capture, "partitions": partitions}


def looped(parsed: list[dict], loops: int) -> Iterator[dict]:
    """The packets ``loops`` times, each loop's connections and times moved past the previous one."""
    streams = [p[packets.STREAM] for p in parsed if p[packets.STREAM] is not None]
    span = max(p[packets.EPOCH] for p in parsed) - min(p[packets.EPOCH] for p in parsed) + 1.0
    step = (max(streams) + 1) if streams else 0
    for loop in range(loops):
        for p in parsed:
            stream = p[packets.STREAM]
            yield {
                **p,
                packets.STREAM: None if stream is None else stream + loop * step,
                packets.EPOCH: p[packets.EPOCH] + loop * span,
            }


def publish(
    bootstrap: str, topic: str, partitions: int, capture: str, source: Iterable[dict], rate: float = 0.0
) -> ProduceResult:
    """Publish ``source`` at ``rate`` packets per second (0: as fast as possible), then end markers."""
    broker.ensure_topic(bootstrap, topic, partitions)
    kafka = broker.producer(bootstrap)
    started = time.monotonic()
    sent = 0
    try:
        for packet in source:
            if rate > 0:
                ahead = started + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            kafka.send(topic, key=capture.encode(), value=broker.encode(message(capture, packet)))
            sent += 1
        end = broker.encode(end_marker(capture, partitions))
        for partition in range(partitions):
            kafka.send(topic, value=end, partition=partition)
        kafka.flush()
    except KafkaError as err:
        raise broker.BrokerUnreachable(f"publishing to {topic} at {bootstrap} failed: {err}") from err
    finally:
        kafka.close()
    seconds = time.monotonic() - started
    log.info(
        "published %d packets of %s to %s in %.1f s (%.0f/s)", sent, capture, topic, seconds, sent / seconds
    )
    return ProduceResult(sent, seconds)


def replay_packets(path: Path, mqtt_ports: list[int], loops: int = 1) -> list[dict]:
    """The packets of a capture (converted with tshark) or raw CSV, ``loops`` times."""
    with tempfile.TemporaryDirectory(prefix="mqttids-replay-") as tmp:
        parsed = list(packets.read_export(inputs.prepare(path, Path(tmp), mqtt_ports)))
    if not parsed:
        raise inputs.InputError(f"{path} holds no packets")
    return list(looped(parsed, loops))


def interface_args(interface: str, mqtt_ports: list[int], duration: float) -> list[str]:
    """tshark's arguments: the authors' export, live on ``interface``, line-buffered, bounded."""
    args = fields.export_args("-", mqtt_ports)
    at = args.index("-r")
    args[at : at + 2] = ["-i", interface, "-l"]
    return [*args, "-a", f"duration:{max(1, int(duration))}"] if duration > 0 else args


def from_interface(interface: str, mqtt_ports: list[int], duration: float) -> Iterator[dict]:
    """The packets tshark sees on ``interface`` as they are captured (needs capture rights)."""
    command = [tshark.find_tshark(), *interface_args(interface, mqtt_ports, duration)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        lines = iter(proc.stdout.readline, "")
        header = next(csv.reader([next(lines, "")]), [])
        for row in packets.rows(header, lines):
            yield packets.parse(row)
        if proc.wait() not in (0, None):
            raise tshark.ConversionError(f"tshark on {interface} exited with {proc.returncode}")
