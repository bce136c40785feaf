"""A deterministic generator of realistic MQTTset CSV files.

The platform must run offline, so it needs a stand-in for the Kaggle files with the same
shape, formatting quirks and statistics. Real captures are mostly repetitions of a few
packet shapes (an ACK, a sensor's PUBLISH, a refused CONNECT...) plus a few values that
vary (timing, lengths, message ids). The model mirrors that directly:

* a :class:`Packet` is one distinct packet shape (fixed flags, MQTT header, CONNECT
  fields) with a few drawn columns (``tcp.time_delta``, lengths, payload, ``mqtt.msgid``);
* an :class:`Exchange` is one or two packets that always come together (SYN with SYN-ACK,
  CONNECT with CONNACK), so their counts stay paired in every file, and carries its weight:
  how many rows of the published reduced files it accounts for;
* each class (``legitimate``, ``dos``...) is a small table of exchanges, one function per
  class below. The weights add up to the published per-class row counts, and across
  classes to the published ``tcp.flags`` / ``mqtt.hdrflags`` / ``mqtt.msgtype`` counts.

Bare TCP segments (ACK, FIN, RST, handshakes) are the *same* packets with the same timing
in every class, as in the captures: they carry no class signal, which is why per-packet
accuracy on MQTTset plateaus well below 1.0. The published train and test files differ in
mean ``tcp.len`` per class (the split is not random: bruteforce averages 3.3 bytes in train
but 5.7 in test), so the attack classes have "elastic" packets whose lengths absorb the
difference: they are stretched, block after block, until the class's mean ``tcp.len`` hits
the published value for that file.

Files are written in blocks of :data:`BLOCK_ROWS` rows, so memory stays bounded whatever
the size, and each block has its own random stream, so output depends only on the seed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mqttids.sample import published
from mqttids.schema import COLUMNS, CSV_HEADER, CSV_NAMES, LABELS, Kind, canonical_hex

log = logging.getLogger(__name__)

BLOCK_ROWS = 100_000  # rows rendered at once: bounds memory, and fixes the random streams
MAX_TCP_LEN = published.TCP_LEN_MAX  # the capture's largest segment (loopback offload)
FILES = {"train": "train70.csv", "test": "test30.csv"}
TRAIN_SHARE = 0.7
MIN_CLASS_ROWS = 8  # per file in --rows mode: enough for every class to show in both files

# Formatting quirks of the published files, applied to a small share of rows so that every
# reader is exercised on them.
NARROW_HEX_SHARE = 0.002  # newer tshark writes 0x0018 / 0x18 instead of 0x00000018
PANDAS_TIME_SHARE = 0.01  # of deltas under 1e-4 s: re-saved by pandas as 2.4064e-05
FLOAT_MSG_SHARE = 0.01  # of all-digit hex payloads: re-saved as a float, 323939.0

Elastic = Literal["bytes", "frames"] | None
Rng = np.random.Generator
Totals = dict[str, int]  # rows written per split
Units = dict[str, np.ndarray]  # per class: how many times each of its exchanges occurs

# ---------------------------------------------------------------------------------------
# Timing: tcp.time_delta is the time since the previous frame *of the same TCP stream*,
# in whole microseconds. Each profile is a mixture of (weight, low_us, high_us) parts:
# low == high is a constant, a positive range is log-uniform, any other range is uniform.
# ---------------------------------------------------------------------------------------
TIMINGS: dict[str, tuple[tuple[float, int, int], ...]] = {
    # The first frame of a stream (a SYN) has no predecessor: tshark writes 0.
    "first": ((1.0, 0, 0),),
    # Pure ACKs, FINs, RSTs: mostly microseconds after the segment they answer, sometimes
    # a delayed ACK; the few negative values are capture clock jitter.
    "ack": (
        (0.12, 0, 0),
        (0.0002, -2, -1),
        (0.55, 2, 80),
        (0.18, 81, 1_000),
        (0.145, 1_001, 200_000),
        (0.005, 200_001, 5_000_000),
    ),
    # Back-to-back segments of a flood: often the same microsecond.
    "burst": ((0.12, 0, 0), (0.7, 1, 40), (0.18, 41, 1_000)),
    # A reply to the peer's segment: one round trip on a LAN.
    "reply": ((0.02, 0, 0), (0.75, 10, 100), (0.23, 101, 3_000)),
    # A sensor publishing once a second.
    "period": ((1.0, 999_000, 1_000_100),),
    # A client idle for its whole 60 s keep-alive, then pinging.
    "keepalive": ((1.0, 59_990_000, 60_000_878),),
    # A slow attacker pausing between messages, sometimes for a whole minute.
    "idle": ((0.92, 100_000, 10_000_000), (0.08, 59_000_000, 60_000_000)),
}


@dataclass(frozen=True)
class Packet:
    """One distinct packet shape: fixed header fields plus a few drawn columns.

    ``body`` is the MQTT remaining length without the payload (topic, message id, CONNECT
    variable header...), ``payloads`` are the ASCII payloads of a PUBLISH. ``frames`` is
    how many equal MQTT messages share the TCP segment: tshark describes the first one but
    ``tcp.len`` counts them all (a dos PUBACK run packs up to 12). ``data`` is the
    ``tcp.len`` of a segment whose bytes tshark could not dissect as MQTT.
    """

    flags: int
    timing: str
    hdr: int = 0  # mqtt.hdrflags; 0 means no MQTT layer at all (a bare TCP segment)
    body: tuple[int, ...] = (0,)
    payloads: tuple[str, ...] = ()
    frames: tuple[int, int] = (1, 1)
    data: tuple[int, int] = (0, 0)
    msgid: tuple[int, int] | None = None
    conflags: int = 0
    kalive: int = 0
    conack: int | None = None  # CONNACK return code: 0 accepted, 5 not authorised
    elastic: Elastic = None

    @property
    def msgtype(self) -> int:
        return self.hdr >> 4

    def fields(self) -> dict[str, int | str | None]:
        """The packet's fixed columns; None marks a flag field absent from the packet."""
        connect = self.msgtype == 1
        publish = self.msgtype == 3
        return {
            "tcp.flags": self.flags,
            "mqtt.conack.flags": 0 if self.conack is not None else None,
            "mqtt.conack.val": self.conack or 0,
            "mqtt.conflag.cleansess": int(connect),
            "mqtt.conflag.passwd": (self.conflags >> 6) & 1,
            "mqtt.conflag.uname": (self.conflags >> 7) & 1,
            "mqtt.conflags": self.conflags if connect else None,
            "mqtt.dupflag": (self.hdr >> 3) & 1 if publish else 0,
            "mqtt.hdrflags": self.hdr or None,
            "mqtt.kalive": self.kalive,
            "mqtt.msgtype": self.msgtype,
            "mqtt.proto_len": 4 if connect else 0,
            "mqtt.protoname": "MQTT" if connect else "0",
            "mqtt.qos": (self.hdr >> 1) & 3 if publish else 0,
            "mqtt.retain": self.hdr & 1 if publish else 0,
            "mqtt.ver": 4 if connect else 0,
        }


@dataclass(frozen=True)
class Exchange:
    """Packets that always occur together, and how many rows of the published files they make."""

    name: str
    packets: tuple[Packet, ...]
    rows: int


# ---------------------------------------------------------------------------------------
# Shared packets. Bare segments are the same objects in every class: same flags, same
# timing, so they look alike whatever the class (they are where classifiers fail).
# ---------------------------------------------------------------------------------------
ACK = Packet(0x10, "ack")
FIN = Packet(0x11, "ack")
RST = Packet(0x04, "ack")
RST_ACK = Packet(0x14, "reply")
HANDSHAKE = (Packet(0x02, "first"), Packet(0x12, "reply"))
CONNACK_OK = Packet(0x18, "reply", hdr=0x20, body=(2,), conack=0)
PINGRESP = Packet(0x18, "reply", hdr=0xD0)


def connect(conflags: int, kalive: int, body: tuple[int, ...], elastic: Elastic = None) -> Packet:
    """A CONNECT: 10 bytes of variable header plus client id and credentials in ``body``."""
    return Packet(0x18, "burst", 0x10, body, conflags=conflags, kalive=kalive, elastic=elastic)


def tcp_noise(handshakes: int, fins: int, resets: int, acks: int) -> tuple[Exchange, ...]:
    """The bare segments of a class: handshakes (SYN + SYN-ACK rows), FINs, RSTs and ACKs."""
    return (
        Exchange("handshake", HANDSHAKE, 2 * handshakes),
        Exchange("fin", (FIN,), fins),
        Exchange("reset", (RST,), resets),
        Exchange("ack", (ACK,), acks),
    )


def _filler(length: int, seed: int) -> str:
    """A fixed printable payload of ``length`` characters (attack tools send junk text)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[(seed * 7 + i * 13) % len(alphabet)] for i in range(length))


SENSOR_VALUES = ("0", "0", "1", "1", "2", "2", "2", "24", "26", "29", "299", "1013")
SENSOR_TOPICS = (7, 8, 10, 10, 11, 11, 12, 13)  # 2-byte length + topics such as "light", "humidity"
SYS_VERSION = "mosquitto version 1.6.9"  # retained $SYS/broker/version, sent to subscribers
DOS_TEXT = (_filler(157, 1), _filler(160, 2))
FLOOD_TEXT = tuple(_filler(n, n) for n in (154, 158, 159, 161, 163, 166))
FUZZ_TEXT = ("AAAA", "%n%n%s", "{}", "\\x00", "////", "0")


def legitimate() -> tuple[Exchange, ...]:
    """Sensors on long-lived connections publishing small QoS 0 readings once a second.

    Half the PUBLISH rows are the sensor's own (about 1 s after the previous one), half are
    the broker forwarding them to subscribers (a round trip later). Short topics and one-
    or two-digit readings give the class mean ``tcp.len`` of 7.8, the same in train and
    test, so nothing here is elastic. Few connections, so few handshakes; idle clients
    ping after their 60 s keep-alive, which makes the long tail of ``tcp.time_delta``.
    """
    publish = {"hdr": 0x30, "body": SENSOR_TOPICS, "payloads": SENSOR_VALUES}
    return (
        *tcp_noise(handshakes=40, fins=40, resets=12, acks=71_582),
        Exchange("login", (connect(0xC2, 60, (30, 34)), CONNACK_OK), 2 * 40),
        Exchange("sensor publish", (Packet(0x18, "period", **publish),), 46_000),
        Exchange("forwarded publish", (Packet(0x18, "reply", **publish),), 46_000),
        Exchange("retained $SYS", (Packet(0x18, "reply", 0x31, (21,), (SYS_VERSION,)),), 121),
        Exchange("ping", (Packet(0x18, "keepalive", 0xC0),), 700),
        Exchange("pong", (PINGRESP,), 720),
        Exchange("subscribe", (Packet(0x18, "reply", 0x82, (11,), msgid=(1, 12)),), 60),
        Exchange("suback", (Packet(0x18, "reply", 0x90, (3,), msgid=(1, 12)),), 60),
        Exchange("disconnect", (Packet(0x19, "burst", 0xE0),), 8),
    )


def dos() -> tuple[Exchange, ...]:
    """A broker flooded with QoS 1 PUBLISH (about 165 bytes each) and its PUBACKs.

    Messages are packed several to a segment (mean ``tcp.len`` 305-330); segments in the
    middle of a burst carry only ACK (0x10), retransmissions set DUP (0x3a), PUBACKs come
    in runs of up to 12 per segment. Message ids cycle through a short window (the tool
    reconnects and restarts its counter), so many rows repeat exactly, as in the published
    files. The attack's ACKs are indistinguishable from legitimate ones.
    """
    qos1 = {"body": (8,), "payloads": DOS_TEXT, "msgid": (1, 24)}
    return (
        *tcp_noise(handshakes=200, fins=350, resets=80, acks=29_123),
        Exchange("login", (connect(0x02, 60, (14, 16)), CONNACK_OK), 2 * 190),
        Exchange(
            "publish qos1",
            (Packet(0x18, "burst", 0x32, **qos1, frames=(1, 6), elastic="frames"),),
            13_120,
        ),
        Exchange(
            "publish qos1 mid-burst",
            (Packet(0x10, "burst", 0x32, **qos1, frames=(1, 6), elastic="frames"),),
            22_180,
        ),
        Exchange("publish qos1 retransmitted", (Packet(0x18, "burst", 0x3A, **qos1),), 18_100),
        Exchange(
            "puback run",
            (Packet(0x18, "burst", 0x40, (2,), frames=(1, 12), msgid=(1, 24)),),
            38_500,
        ),
        Exchange(
            "publish qos0",
            (Packet(0x18, "burst", 0x30, (7, 9), ("0", "1"), frames=(1, 8)),),
            7_980,
        ),
        Exchange("publish and close", (Packet(0x19, "burst", 0x30, (7,), ("1",)),), 20),
    )


def bruteforce() -> tuple[Exchange, ...]:
    """One short connection per password guess: CONNECT with user and password, refused.

    Most CONNACKs return 5 (not authorised); the broker often sends it together with its
    FIN (0x19). Every guess costs a handshake and a teardown, so the class is mostly bare
    segments and its mean ``tcp.len`` is tiny (3.3-4.0); the CONNECTs are elastic because
    the credentials' length is what differs between the published train and test files.
    """
    guess = connect(0xC2, 60, (16, 18, 20), elastic="bytes")
    refused = Packet(0x18, "reply", 0x20, (2,), conack=5)
    refused_and_closed = Packet(0x19, "reply", 0x20, (2,), conack=5)
    return (
        *tcp_noise(handshakes=1_650, fins=2_600, resets=500, acks=4_801),
        Exchange("refused", (guess, refused), 2 * 940),
        Exchange("refused and closed", (guess, refused_and_closed), 2 * 700),
        Exchange("accepted", (connect(0xC2, 60, (20, 22, 24)), CONNACK_OK), 2 * 10),
    )


def slowite() -> tuple[Exchange, ...]:
    """SlowITe: many connections held open with the longest keep-alive and rare pings.

    Each connection is a handshake and a CONNECT with keep-alive 65535 (or 0, "never"),
    then the attacker idles and pings slowly. Elastic CONNECTs (random client ids) meet
    the class mean ``tcp.len`` (3.5-4.0).
    """
    return (
        *tcp_noise(handshakes=1_100, fins=900, resets=400, acks=2_232),
        Exchange(
            "login max keep-alive",
            (connect(0x02, 65535, (14, 16), elastic="bytes"), CONNACK_OK),
            2 * 980,
        ),
        Exchange(
            "login no keep-alive",
            (connect(0x02, 0, (14, 16), elastic="bytes"), CONNACK_OK),
            2 * 100,
        ),
        Exchange("slow ping", (Packet(0x18, "idle", 0xC0),), 650),
        Exchange("pong", (PINGRESP,), 660),
    )


def malformed() -> tuple[Exchange, ...]:
    """A fuzzer: odd header flags, odd keep-alives, resets, and bytes tshark cannot parse.

    It replays PUBLISH with DUP/QoS bits (0x32, 0x3a), truncated QoS 0 PUBLISH, rare message
    types (PUBREC, SUBSCRIBE, DISCONNECT), and CONNECTs with strange keep-alives. The broker
    answers with resets (0x04, and the only 0x14 RST-ACKs). Undissectable segments carry
    data but no MQTT layer; they are elastic and meet the class mean ``tcp.len`` (21).
    """
    qos1 = {"body": (8,), "payloads": DOS_TEXT, "msgid": (1, 300)}
    short = {"hdr": 0x30, "body": (3, 4, 5), "payloads": FUZZ_TEXT}
    return (
        *tcp_noise(handshakes=370, fins=300, resets=600, acks=3_009),
        Exchange("reset-ack", (RST_ACK,), 41),
        Exchange("garbage", (Packet(0x18, "burst", data=(1, 12), elastic="bytes"),), 592),
        Exchange("login odd keep-alive", (connect(0x02, 234, (14,)), CONNACK_OK), 2 * 150),
        Exchange("login user only", (connect(0x82, 1, (20,)), CONNACK_OK), 2 * 6),
        Exchange("login keep-alive 2", (connect(0x02, 2, (14,)), CONNACK_OK), 2 * 77),
        Exchange("login keep-alive 3", (connect(0x02, 3, (14,)), CONNACK_OK), 2 * 77),
        Exchange("publish qos1", (Packet(0x18, "burst", 0x32, **qos1),), 384),
        Exchange("publish dup", (Packet(0x18, "burst", 0x3A, **qos1),), 607),
        Exchange("short publish", (Packet(0x18, "burst", **short),), 2_374),
        Exchange("short publish mid-burst", (Packet(0x10, "burst", **short),), 1_083),
        Exchange("puback", (Packet(0x18, "burst", 0x40, (2,), msgid=(1, 300)),), 385),
        Exchange("pubrec", (Packet(0x18, "burst", 0x50, (2,), msgid=(1, 300)),), 39),
        Exchange("subscribe", (Packet(0x18, "burst", 0x82, (8,), msgid=(1, 300)),), 22),
        Exchange("suback", (Packet(0x18, "reply", 0x90, (3,), msgid=(1, 300)),), 22),
        Exchange("ping", (Packet(0x18, "burst", 0xC0),), 49),
        Exchange("pong", (PINGRESP,), 47),
        Exchange("disconnect", (Packet(0x19, "burst", 0xE0),), 10),
    )


def flood() -> tuple[Exchange, ...]:
    """A few connections pushing huge payloads: segments of up to 32 KiB.

    Only the segment where a message starts has an MQTT header; the rest of the payload
    comes in continuation segments with data but no MQTT layer. These are elastic and
    carry the class mean ``tcp.len`` (13-13.5 thousand), while flood's mean ``mqtt.len``
    stays small, as the published augmented files (mean ``mqtt.len`` 12.3 with flood a
    tenth of the rows) require. A quarter of the rows are plain ACKs, FINs and handshakes,
    which is why flood recall is poor in published models.
    """
    start = {"hdr": 0x32, "body": (6, 8), "payloads": FLOOD_TEXT, "msgid": (1, 2_000)}
    rest = Packet(0x10, "burst", data=(1_448, 8_000), elastic="bytes")
    return (
        *tcp_noise(handshakes=12, fins=8, resets=0, acks=117),
        Exchange("login", (connect(0x02, 60, (14, 16)), CONNACK_OK), 2 * 12),
        Exchange("publish", (Packet(0x18, "burst", **start, frames=(1, 4)),), 20),
        Exchange("publish mid-burst", (Packet(0x10, "burst", **start, frames=(1, 4)),), 20),
        Exchange("continuation", (rest,), 400),
    )


CLASS_MODELS: dict[str, tuple[Exchange, ...]] = {
    "legitimate": legitimate(),
    "dos": dos(),
    "bruteforce": bruteforce(),
    "malformed": malformed(),
    "slowite": slowite(),
    "flood": flood(),
}
assert tuple(CLASS_MODELS) == LABELS, "one model per label, in schema order"


# ---------------------------------------------------------------------------------------
# Cell formatting. Everything becomes lookups into tables of ready-made "cell," strings, so
# a block is formatted with numpy indexing and a single join, never cell by cell.
# ---------------------------------------------------------------------------------------
VARIABLE_COLUMNS = ("tcp.time_delta", "tcp.len", "mqtt.len", "mqtt.msg", "mqtt.msgid")
_KIND = {c.csv_name: c.kind for c in COLUMNS}
_INT_CELLS = np.array([f"{i}," for i in range(65_536)], dtype=object)  # tcp.len: 10
_FLOAT_CELLS = np.array([f"{i}.0," for i in range(65_536)], dtype=object)  # others: 10.0


def hex_cell(value: int, column: str, narrow: bool) -> str:
    """A present flag field: 0x00000018 as published, 0x0018 / 0x18 in newer tshark."""
    digits = 4 if column == "tcp.flags" else 2
    return f"0x{value:0{digits if narrow else 8}x}"


def fixed_cell(column: str, value: int | str | None, label: str, narrow: bool) -> str:
    """One constant cell in MQTTset's style: hex flags or "0", integers written float-style."""
    kind = _KIND[column]
    if kind is Kind.LABEL:
        return label
    if kind is Kind.TEXT:
        return str(value if value is not None else "0")
    if kind is Kind.HEX:
        return "0" if value is None else hex_cell(int(value), column, narrow)
    return f"{int(value or 0)}.0"


def java_seconds(us: int) -> str:
    """Microseconds as Java's Double.toString prints seconds: 0.998867, 2.27E-4, 1.0E-6, 0.0."""
    if us == 0:
        return "0.0"
    sign, mag = ("-" if us < 0 else ""), abs(us)
    if mag >= 1_000:  # 1e-3 and above: plain decimal, at least one fractional digit
        whole, frac = divmod(mag, 1_000_000)
        return f"{sign}{whole}.{f'{frac:06d}'.rstrip('0') or '0'}"
    digits = str(mag)
    mantissa = digits.rstrip("0")
    return f"{sign}{mantissa[0]}.{mantissa[1:] or '0'}E{len(digits) - 7}"


def msg_cells(texts: tuple[str, ...], as_float: bool) -> tuple[str, ...]:
    """``mqtt.msg`` cells: the payload's hex ("0" if none); pandas re-saved all-digit ones
    as floats (323939.0), the ``as_float`` variant."""
    hexed = [t.encode("ascii").hex() for t in texts]
    return tuple(f"{h}.0," if as_float and h.isdigit() else f"{h}," for h in hexed) or ("0,",)


def _header_bytes(mqtt_len: np.ndarray) -> np.ndarray:
    """Fixed-header size: type byte plus a 1- or 2-byte remaining length."""
    return np.where(mqtt_len < 128, 2, 3)


@dataclass(frozen=True)
class _Slot:
    """A (class, packet) pair with its pre-rendered constant cells."""

    label: str
    packet: Packet
    segments: tuple[tuple[str, ...], tuple[str, ...]]  # wide / narrow hex styles
    payloads: tuple[tuple[str, ...], tuple[str, ...]]  # plain / float-style msg cells
    payload_len: np.ndarray


def _segments(packet: Packet, label: str, narrow: bool) -> tuple[str, ...]:
    """The constant text between the variable columns, with the separators included."""
    fields = packet.fields()
    pieces: list[str] = []
    current: list[str] = []
    for name in CSV_NAMES:
        if name in VARIABLE_COLUMNS:
            pieces.append("".join(f"{c}," for c in current))
            current = []
        else:
            current.append(fixed_cell(name, fields.get(name), label, narrow))
    pieces.append(",".join(current) + "\n")
    return tuple(pieces)


def _make_slot(label: str, packet: Packet) -> _Slot:
    return _Slot(
        label,
        packet,
        (_segments(packet, label, False), _segments(packet, label, True)),
        (msg_cells(packet.payloads, False), msg_cells(packet.payloads, True)),
        np.array([len(t) for t in packet.payloads] or [0], dtype=np.int64),
    )


def _build_slots() -> tuple[tuple[_Slot, ...], dict[str, list[list[int]]]]:
    """Every (class, packet) slot, and the slot ids of each class's exchanges."""
    slots: list[_Slot] = []
    index: dict[str, list[list[int]]] = {}
    for label, model in CLASS_MODELS.items():
        index[label] = []
        for exchange in model:
            index[label].append(list(range(len(slots), len(slots) + len(exchange.packets))))
            slots.extend(_make_slot(label, p) for p in exchange.packets)
    return tuple(slots), index


SLOTS, SLOT_INDEX = _build_slots()
_SLOT_LABEL = np.array([LABELS.index(s.label) for s in SLOTS], dtype=np.int64)
_SLOT_ELASTIC = np.array([s.packet.elastic is not None for s in SLOTS])
# (style, slot, segment): the constant text around the variable columns, per hex style.
_SEGMENTS = np.array([[s.segments[style] for s in SLOTS] for style in (0, 1)], dtype=object)


def _elastic_mode(label: str) -> Elastic:
    """The elastic mode of a class, if any (at most one, checked at import)."""
    modes = {p.elastic for e in CLASS_MODELS[label] for p in e.packets} - {None}
    assert len(modes) <= 1, f"{label}: mixes elastic modes {modes}"
    return modes.pop() if modes else None


ELASTIC_MODES: dict[str, Elastic] = {label: _elastic_mode(label) for label in LABELS}


# ---------------------------------------------------------------------------------------
# Drawing one block of rows.
# ---------------------------------------------------------------------------------------
def draw_timing(profile: str, n: int, rng: Rng) -> np.ndarray:
    """``n`` deltas in microseconds from a named :data:`TIMINGS` mixture."""
    parts = TIMINGS[profile]
    weights = np.array([w for w, _, _ in parts])
    which = rng.choice(len(parts), size=n, p=weights / weights.sum())
    out = np.zeros(n, dtype=np.int64)
    for k, (_, lo, hi) in enumerate(parts):
        rows = np.flatnonzero(which == k)
        if lo == hi:
            out[rows] = lo
        elif lo > 0:
            out[rows] = np.exp(rng.uniform(math.log(lo), math.log(hi + 1), rows.size))
        else:
            out[rows] = rng.integers(lo, hi + 1, rows.size)
    return out


@dataclass
class _Block:
    """The drawn columns of one block, row-aligned with ``slot``."""

    slot: np.ndarray
    time_us: np.ndarray
    tcp_len: np.ndarray
    mqtt_len: np.ndarray
    frames: np.ndarray
    msgid: np.ndarray
    msg: np.ndarray


def _draw_block(slot_ids: np.ndarray, rng: Rng) -> _Block:
    """Draw every variable column, slot by slot (rows of a slot are drawn together)."""
    n = slot_ids.size
    block = _Block(
        slot_ids,
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.ones(n, np.int64),
        np.zeros(n, np.int64),
        np.empty(n, dtype=object),
    )
    order = np.argsort(slot_ids, kind="stable")
    present, starts = np.unique(slot_ids[order], return_index=True)
    for s, rows in zip(present, np.split(order, starts[1:]), strict=True):
        _draw_slot(SLOTS[s], rows, block, rng)
    return block


def _draw_slot(slot: _Slot, rows: np.ndarray, block: _Block, rng: Rng) -> None:
    """Fill the rows of one slot: timing, message id, payload and the lengths that follow."""
    p, k = slot.packet, rows.size
    block.time_us[rows] = draw_timing(p.timing, k, rng)
    if p.msgid is not None:
        block.msgid[rows] = rng.integers(p.msgid[0], p.msgid[1] + 1, k)
    if not p.hdr:
        block.tcp_len[rows] = rng.integers(p.data[0], p.data[1] + 1, k)
        block.msg[rows] = "0,"
        return
    which = rng.integers(0, slot.payload_len.size, k)
    quirky = rng.random(k) < FLOAT_MSG_SHARE
    cells = np.array(slot.payloads, dtype=object)  # (style, payload)
    block.msg[rows] = cells[quirky.astype(np.int64), which]
    mqtt_len = rng.choice(np.array(p.body), k) + slot.payload_len[which]
    frames = rng.integers(p.frames[0], p.frames[1] + 1, k)
    block.mqtt_len[rows] = mqtt_len
    block.frames[rows] = frames
    block.tcp_len[rows] = frames * (mqtt_len + _header_bytes(mqtt_len))


def split_total(total: int, weights: np.ndarray, caps: np.ndarray, rng: Rng) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights``, none above its cap.

    The parts add up to ``total`` exactly (unless the caps cannot hold it); capped
    surplus is handed to the others, a few passes being plenty in practice.
    """
    parts = np.zeros(weights.size, dtype=np.int64)
    for _ in range(8):
        room = caps - parts
        left = total - int(parts.sum())
        open_ = room > 0
        if left <= 0 or not open_.any():
            break
        share = np.where(open_, weights, 0.0)
        add = np.floor(left * share / share.sum()).astype(np.int64)
        short = left - int(add.sum())
        if short:
            pick = rng.choice(
                np.flatnonzero(open_), short, replace=False, p=share[open_] / share[open_].sum()
            )
            add[pick] += 1
        parts += np.minimum(add, room)
    return parts


@dataclass
class LengthBudget:
    """The tcp.len each class still owes its target mean, carried from block to block.

    A block whose fixed rows overshoot leaves a surplus that later blocks absorb, so the
    mean over the whole file lands on the target even though blocks vary in make-up.
    """

    means: dict[str, float]
    owed: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LABELS, 0.0))


def _stretch(block: _Block, label: str, budget: LengthBudget, rng: Rng) -> None:
    """Lengthen the class's elastic rows by what the class owes its mean tcp.len.

    The extra is spread over the elastic rows with gamma-distributed shares, so lengths
    keep a natural spread; bytes mode grows the message (credentials, garbage), frames
    mode packs more messages into the segment.
    """
    in_class = _SLOT_LABEL[block.slot] == LABELS.index(label)
    rows = np.flatnonzero(in_class & _SLOT_ELASTIC[block.slot])
    due = budget.owed[label] + in_class.sum() * budget.means[label]
    due -= float(block.tcp_len[in_class].sum())
    if rows.size and due >= 1:
        weights = rng.gamma(2.0, size=rows.size)
        before = int(block.tcp_len[rows].sum())
        if ELASTIC_MODES[label] == "bytes":
            caps = MAX_TCP_LEN - block.tcp_len[rows]
            added = split_total(round(due), weights, caps, rng)
            block.tcp_len[rows] += added
            block.mqtt_len[rows] += np.where(block.mqtt_len[rows] > 0, added, 0)
        else:
            frame = block.mqtt_len[rows] + _header_bytes(block.mqtt_len[rows])
            caps = MAX_TCP_LEN // frame - block.frames[rows]
            block.frames[rows] += split_total(round(due / frame.mean()), weights, caps, rng)
            block.tcp_len[rows] = block.frames[rows] * frame
        due -= int(block.tcp_len[rows].sum()) - before
    budget.owed[label] = due


def time_cells(time_us: np.ndarray, rng: Rng) -> np.ndarray:
    """Format deltas Java-style; a few sub-1e-4 ones get pandas' style and nanoseconds."""
    values, inverse = np.unique(time_us, return_inverse=True)
    table = np.array([java_seconds(int(v)) + "," for v in values], dtype=object)
    cells = table[inverse]
    tiny = np.flatnonzero((time_us > 0) & (time_us < 100))
    quirky = tiny[rng.random(tiny.size) < PANDAS_TIME_SHARE]
    ns = time_us[quirky] * 1_000 + rng.integers(1, 1_000, quirky.size)
    cells[quirky] = [f"{v / 1e9!r}," for v in ns.tolist()]
    return cells


def render_block(slot_ids: np.ndarray, budget: LengthBudget, rng: Rng) -> str:
    """Draw and format one block of rows (in the given slot order) as CSV text."""
    block = _draw_block(slot_ids, rng)
    for label in LABELS:
        _stretch(block, label, budget, rng)
    style = (rng.random(slot_ids.size) < NARROW_HEX_SHARE).astype(np.int64)
    segments = _SEGMENTS[style, slot_ids]  # (rows, len(VARIABLE_COLUMNS) + 1)
    variable = (
        time_cells(block.time_us, rng),
        _INT_CELLS[block.tcp_len],
        _FLOAT_CELLS[block.mqtt_len],
        block.msg,
        _FLOAT_CELLS[block.msgid],
    )
    pieces = [segments[:, 0]]
    for i, cells in enumerate(variable, start=1):
        pieces += [cells, segments[:, i]]
    return "".join(np.stack(pieces, axis=1).ravel().tolist())


# ---------------------------------------------------------------------------------------
# Shapes: how many rows of each class go in each file, and the tcp.len each is held to.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """Rows per class for each file of a pair, and each file's mean tcp.len per class."""

    rows: dict[str, dict[str, int]]
    tcp_len: dict[str, dict[str, float]]

    def total(self, split: str) -> int:
        return sum(self.rows[split].values())


def held_out_tcp_len() -> dict[str, float]:
    """Mean tcp.len per class of test30_reduced, from the published train and train+test means."""
    train, test = published.REDUCED_ROWS["train"], published.REDUCED_ROWS["test"]
    return {
        label: (
            published.AVG_TCP_LEN_ALL[label] * (train[label] + test[label])
            - published.AVG_TCP_LEN_TRAIN[label] * train[label]
        )
        / test[label]
        for label in LABELS
    }


REDUCED_TCP_LEN = {"train": published.AVG_TCP_LEN_TRAIN, "test": held_out_tcp_len()}


def reduced_shape() -> Shape:
    """The published reduced files: 231,646 train / 99,290 test rows."""
    return Shape(published.REDUCED_ROWS, REDUCED_TCP_LEN)


def augmented_shape() -> Shape:
    """The published augmented files: 14M / 6M rows, legitimate half, each attack a tenth."""
    means = published.AVG_TCP_LEN_AUGMENTED
    return Shape(published.AUGMENTED_ROWS, {"train": means, "test": means})


def min_class_rows(days: int = 1) -> int:
    """Rows of each class a ``--rows`` file needs: a handful, and one exchange per day."""
    return max(MIN_CLASS_ROWS, 2 * days)


MIXES = ("reduced", "augmented")


def rows_shape(total: int, min_rows: int = MIN_CLASS_ROWS, mix: str = "reduced") -> Shape:
    """``total`` rows split 70/30 with the class mix of the ``reduced`` or ``augmented`` files.

    ``augmented`` scales the 20M-row shape down (legitimate half, each attack a tenth, its
    tcp.len means), so a small pair grows into the large one by size alone: what a benchmark
    needs to read a growth ratio.
    """
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {', '.join(MIXES)}, got {mix!r}")
    reference = published.REDUCED_ROWS if mix == "reduced" else published.AUGMENTED_ROWS
    n_train = round(total * TRAIN_SHARE)
    rows = {
        "train": class_counts(n_train, min_rows, reference),
        "test": class_counts(total - n_train, min_rows, reference),
    }
    means = published.AVG_TCP_LEN_AUGMENTED
    return Shape(rows, REDUCED_TCP_LEN if mix == "reduced" else {"train": means, "test": means})


def class_counts(
    n: int, min_rows: int, mix: dict[str, dict[str, int]] = published.REDUCED_ROWS
) -> dict[str, int]:
    """Apportion ``n`` rows to classes as in the ``mix`` files, each class at least ``min_rows``."""
    reference = [sum(mix[s][label] for s in FILES) for label in LABELS]
    counts = np.maximum(min_rows, largest_remainder(n, np.array(reference, dtype=float)))
    counts[0] -= counts.sum() - n  # the majority class pays for the others' minimums
    if counts[0] < min_rows:
        raise ValueError(f"{n} rows is too few for {min_rows} rows of each class in a file")
    return dict(zip(LABELS, counts.tolist(), strict=True))


def largest_remainder(n: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts proportional to ``weights`` adding up to ``n`` exactly."""
    ideal = n * weights / weights.sum()
    counts = np.floor(ideal).astype(np.int64)
    order = np.argsort(-(ideal - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    return counts


def exchange_units(label: str, rows: int) -> np.ndarray:
    """How many times each exchange of a class occurs so that the class has ``rows`` rows.

    Paired exchanges are rounded first (in whole pairs); single-packet exchanges then take
    the exact remainder, so the class total is exact and pairs stay pairs.
    """
    model = CLASS_MODELS[label]
    weights = np.array([e.rows for e in model], dtype=float)
    size = np.array([len(e.packets) for e in model])
    ideal = rows * weights / weights.sum()
    units = np.where(size > 1, np.floor(ideal / size + 0.5), 0).astype(np.int64)
    while (units * size).sum() > rows:  # tiny classes: drop pairs until the rows fit
        units[np.argmax(units * (size > 1))] -= 1
    singles = size == 1
    units[singles] = largest_remainder(rows - int((units * size).sum()), weights[singles])
    return units


# ---------------------------------------------------------------------------------------
# Writing files.
# ---------------------------------------------------------------------------------------
def _rng(seed: int, *key: int) -> Rng:
    """An independent, reproducible random stream per use.

    Keys: ``(file,)`` for a pair's file and ``(file, day)`` (day from 1) for a landing
    batch, to which :func:`write_csv` appends 0 for the row order and ``b + 1`` for block
    ``b``; ``(file, 0, 0)`` deals a file's exchanges out to days.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def slot_sequence(units: Units, rng: Rng) -> np.ndarray:
    """One slot id per row of the file, shuffled (2 bytes a row, so 28 MB for 14M rows)."""
    counts = [
        (SLOT_INDEX[label][i][j], int(n))
        for label, per_exchange in units.items()
        for i, n in enumerate(per_exchange)
        for j in range(len(CLASS_MODELS[label][i].packets))
    ]
    ids = np.repeat(np.array([s for s, _ in counts], dtype=np.uint16), [n for _, n in counts])
    rng.shuffle(ids)
    return ids


def write_csv(
    path: Path,
    units: Units,
    tcp_len_means: dict[str, float],
    seed: int,
    key: tuple[int, ...],
) -> int:
    """Stream one MQTTset CSV to ``path`` block by block; returns the rows written.

    The file appears under its final name only when complete (written as ``.part``
    then renamed), so a job watching a landing directory never reads half a file.
    """
    ids = slot_sequence(units, _rng(seed, *key, 0))
    budget = LengthBudget(tcp_len_means)
    size = math.ceil(ids.size / max(1, math.ceil(ids.size / BLOCK_ROWS)))  # equal blocks
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    started = last_log = time.monotonic()
    try:
        with part.open("w", encoding="ascii", newline="\n") as out:
            out.write(CSV_HEADER + "\n")
            for b, start in enumerate(range(0, ids.size, size)):
                chunk = ids[start : start + size].astype(np.int64)
                out.write(render_block(chunk, budget, _rng(seed, *key, b + 1)))
                done, now = start + chunk.size, time.monotonic()
                if now - last_log > 5 or done == ids.size:
                    last_log = now
                    rate = f"{done / max(now - started, 1e-9):,.0f}"
                    log.info("%s: %s rows (%s rows/s)", path, f"{done:,}/{ids.size:,}", rate)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)
    return int(ids.size)


def file_units(shape: Shape, split: str) -> Units:
    """Exchange counts per class for one file of a shape."""
    return {label: exchange_units(label, n) for label, n in shape.rows[split].items()}


def write_pair(out_dir: Path, shape: Shape, seed: int) -> Totals:
    """Write ``train70.csv`` and ``test30.csv`` of ``shape`` into ``out_dir``."""
    return {
        split: write_csv(out_dir / name, file_units(shape, split), shape.tcp_len[split], seed, (i,))
        for i, (split, name) in enumerate(FILES.items())
    }


def split_days(units: Units, days: int, rng: Rng) -> Iterator[Units]:
    """Deal a file's exchanges out to ``days`` batches, every class in every batch.

    Each class's exchanges are split as evenly as possible by count, the exchanges going
    to a day being a random (hypergeometric) draw from those not yet dealt.
    """
    left = {label: u.copy() for label, u in units.items()}
    for day in range(days):
        batch = {}
        for label, remaining in left.items():
            take = int(remaining.sum()) // (days - day)
            batch[label] = rng.multivariate_hypergeometric(remaining, take)
            remaining -= batch[label]
        yield batch


def check_days(shape: Shape, days: int) -> None:
    """Raise ValueError unless every class can appear in each of ``days`` daily batches."""
    for split in FILES:
        for label, units in file_units(shape, split).items():
            if units.sum() < days:
                raise ValueError(
                    f"{label} has only {units.sum()} exchanges in {FILES[split]}: "
                    f"too few to appear on each of {days} days"
                )


def write_landing(landing: Path, shape: Shape, seed: int, days: int, start: dt.date) -> Totals:
    """Lay a pair out as daily batches ``landing/<YYYY-MM-DD>/{train70,test30}.csv``.

    Together the days hold exactly the rows per class and exchange of :func:`write_pair`;
    each day holds every class.
    """
    check_days(shape, days)
    totals = dict.fromkeys(FILES, 0)
    for i, (split, name) in enumerate(FILES.items()):
        batches = split_days(file_units(shape, split), days, _rng(seed, i, 0, 0))
        for day, batch in enumerate(batches):
            folder = landing / (start + dt.timedelta(days=day)).isoformat()
            key = (i, day + 1)
            totals[split] += write_csv(folder / name, batch, shape.tcp_len[split], seed, key)
    return totals


# ---------------------------------------------------------------------------------------
# Calibration: compare a pair of files with the published statistics.
# ---------------------------------------------------------------------------------------
_NUMERIC = {c.csv_name: "float64" for c in COLUMNS if c.kind in (Kind.INT, Kind.FLOAT)}
_TEXT = {c.csv_name: "str" for c in COLUMNS if c.csv_name not in _NUMERIC}
_HEXES = tuple(c.csv_name for c in COLUMNS if c.kind is Kind.HEX)


def read_mqttset(path: Path, chunksize: int = 250_000) -> Iterator[pd.DataFrame]:
    """Read an MQTTset CSV in chunks; flags become integers by value, text stays verbatim."""
    reader = pd.read_csv(
        path, dtype=_NUMERIC | _TEXT, chunksize=chunksize, keep_default_na=False, na_filter=False
    )
    for chunk in reader:
        for col in _HEXES:
            codes, uniques = pd.factorize(chunk[col])
            chunk[col] = np.array([parse_hex(u) for u in uniques], dtype=np.int64)[codes]
        yield chunk


def parse_hex(text: str) -> int:
    """A flag cell by value: "0", "0x18", "0x0018" and "0x00000018" alike."""
    return int(text, 16) if text.startswith("0x") else int(text)


@dataclass
class _Sums:
    """Running sums for a Pearson correlation over chunks."""

    n: float = 0.0
    x: float = 0.0
    y: float = 0.0
    xx: float = 0.0
    yy: float = 0.0
    xy: float = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        self.n += x.size
        self.x += x.sum()
        self.y += y.sum()
        self.xx += (x * x).sum()
        self.yy += (y * y).sum()
        self.xy += (x * y).sum()

    def corr(self) -> float:
        cov = self.xy - self.x * self.y / self.n
        var = (self.xx - self.x**2 / self.n) * (self.yy - self.y**2 / self.n)
        return cov / math.sqrt(var) if var > 0 else float("nan")


def _per_split(zero: float) -> dict[str, dict[str, float]]:
    return {split: dict.fromkeys(LABELS, zero) for split in FILES}


@dataclass
class Tally:
    """Everything the calibration table needs, accumulated chunk by chunk over both files.

    Train-only figures (timing, duplicates, correlations) follow the published ones; the
    time deltas and row hashes are kept whole (16 bytes a train row) for the median and
    the duplicate count, everything else is running sums.
    """

    rows: dict[str, dict[str, float]] = field(default_factory=lambda: _per_split(0))
    tcp_len: dict[str, dict[str, float]] = field(default_factory=lambda: _per_split(0.0))
    counts: dict[str, dict[int, int]] = field(
        default_factory=lambda: {c: {} for c in ("tcp.flags", "mqtt.hdrflags", "mqtt.msgtype")}
    )
    time_delta: list[np.ndarray] = field(default_factory=list)
    hashes: list[np.ndarray] = field(default_factory=list)
    mqtt_len_sum: float = 0.0
    tcp_len_zero: int = 0
    mqtt_len_zero: int = 0
    protoname_mqtt: int = 0
    len_qos: _Sums = field(default_factory=_Sums)
    passwd_uname: _Sums = field(default_factory=_Sums)

    def add(self, split: str, df: pd.DataFrame) -> None:
        """Fold one chunk of ``split`` in."""
        by_label = df.groupby("target")["tcp.len"].agg(["size", "sum"])
        for label, (size, total) in by_label.iterrows():
            self.rows[split][label] += int(size)
            self.tcp_len[split][label] += float(total)
        for col, counts in self.counts.items():
            for value, n in df[col].astype("int64").value_counts().items():
                counts[int(value)] = counts.get(int(value), 0) + int(n)
        self.tcp_len_zero += int((df["tcp.len"] == 0).sum())
        self.mqtt_len_zero += int((df["mqtt.len"] == 0).sum())
        self.protoname_mqtt += int((df["mqtt.protoname"] == "MQTT").sum())
        if split == "train":
            self.mqtt_len_sum += float(df["mqtt.len"].sum())
            self.time_delta.append(df["tcp.time_delta"].to_numpy())
            self.hashes.append(pd.util.hash_pandas_object(df, index=False).to_numpy())
            self.len_qos.add(df["mqtt.len"].to_numpy(), df["mqtt.qos"].to_numpy())
            passwd, uname = df["mqtt.conflag.passwd"], df["mqtt.conflag.uname"]
            self.passwd_uname.add(passwd.to_numpy(), uname.to_numpy())


def tally(data_dir: Path) -> Tally:
    """Read ``train70.csv`` and ``test30.csv`` of ``data_dir`` into a :class:`Tally`."""
    result = Tally()
    for split, name in FILES.items():
        for chunk in read_mqttset(data_dir / name):
            result.add(split, chunk)
    return result


Stat = tuple[str, float, float]  # statistic, generated, published


def calibration(t: Tally) -> list[Stat]:
    """Generated-versus-published statistics for a tallied pair of files.

    A pair with the augmented sizes is compared with the few augmented figures published
    (their class mix differs from the reduced files'); anything else with the reduced
    files, counts being scaled to the generated size so that ``--rows`` samples compare.
    """
    n_train = sum(t.rows["train"].values())
    if n_train == sum(published.AUGMENTED_ROWS["train"].values()):
        return [
            ("mqtt.len mean (train)", t.mqtt_len_sum / n_train, published.AVG_MQTT_LEN_AUGMENTED),
            *_tcp_len_stats(t, published.AVG_TCP_LEN_AUGMENTED, published.AVG_TCP_LEN_AUGMENTED),
        ]
    return [
        ("mqtt.len mean (train)", t.mqtt_len_sum / n_train, published.AVG_MQTT_LEN_TRAIN),
        (
            "tcp.len mean (train)",
            sum(t.tcp_len["train"].values()) / n_train,
            published.TCP_LEN_MEAN_TRAIN,
        ),
        *_tcp_len_stats(t, published.AVG_TCP_LEN_TRAIN, published.AVG_TCP_LEN_ALL),
        *_count_stats(t),
        *_shape_stats(t),
    ]


def _tcp_len_stats(t: Tally, train: dict[str, float], both: dict[str, float]) -> list[Stat]:
    """Mean tcp.len per target, over train and over train + test."""
    stats: list[Stat] = []
    for name, splits, ref in (("train", ("train",), train), ("train+test", tuple(FILES), both)):
        for label in LABELS:
            rows = sum(t.rows[s][label] for s in splits)
            total = sum(t.tcp_len[s][label] for s in splits)
            stats.append((f"tcp.len mean {label} ({name})", total / rows, ref[label]))
    return stats


def _count_stats(t: Tally) -> list[Stat]:
    """Value counts of the flag columns, published counts scaled to the generated size."""
    n_all = sum(sum(rows.values()) for rows in t.rows.values())
    scale = n_all / sum(published.MSGTYPE_COUNTS.values())
    stats: list[Stat] = []
    for col, ref_counts in (
        ("tcp.flags", published.TCP_FLAGS_COUNTS),
        ("mqtt.hdrflags", published.HDRFLAGS_COUNTS),
        ("mqtt.msgtype", published.MSGTYPE_COUNTS),
    ):
        for value, count in ref_counts.items():
            name = str(value) if col == "mqtt.msgtype" else canonical_hex(value)
            got = t.counts[col].get(value, 0)
            stats.append((f"{col} {name} rows (train+test)", got, count * scale))
    stats.append(
        (
            "mqtt.protoname MQTT rows (train+test)",
            t.protoname_mqtt,
            published.PROTONAME_MQTT_ROWS * scale,
        )
    )
    return stats


def _shape_stats(t: Tally) -> list[Stat]:
    """Shares, timing, duplicates and correlations."""
    n_train = sum(t.rows["train"].values())
    n_all = n_train + sum(t.rows["test"].values())
    td = np.concatenate(t.time_delta)
    duplicates = 1 - np.unique(np.concatenate(t.hashes)).size / n_train
    ref_td = published.TIME_DELTA_TRAIN
    return [
        (
            "bare TCP share, msgtype 0 (train+test)",
            t.counts["mqtt.msgtype"].get(0, 0) / n_all,
            published.BARE_TCP_SHARE,
        ),
        ("tcp.len = 0 share (train+test)", t.tcp_len_zero / n_all, published.TCP_LEN_ZERO_SHARE),
        (
            "mqtt.len = 0 share (train+test)",
            t.mqtt_len_zero / n_all,
            published.MQTT_LEN_ZERO_SHARE,
        ),
        ("tcp.time_delta mean (train)", float(td.mean()), ref_td["mean"]),
        ("tcp.time_delta std (train)", float(td.std(ddof=1)), ref_td["std"]),
        ("tcp.time_delta min (train)", float(td.min()), ref_td["min"]),
        ("tcp.time_delta max (train)", float(td.max()), ref_td["max"]),
        ("tcp.time_delta median (train)", float(np.median(td)), ref_td["median"]),
        (
            "tcp.time_delta = 0 share (train)",
            float((td == 0).mean()),
            published.TIME_DELTA_ZERO_SHARE,
        ),
        ("exact duplicate share (train)", duplicates, published.DUPLICATE_SHARE_TRAIN),
        ("corr(mqtt.len, mqtt.qos) (train)", t.len_qos.corr(), published.CORR_MQTT_LEN_QOS),
        (
            "corr(conflag.passwd, conflag.uname) (train)",
            t.passwd_uname.corr(),
            published.CORR_PASSWD_UNAME,
        ),
    ]


def _number(x: float) -> str:
    """Whole numbers with thousands separators, large ones with 2 decimals, else 6 digits."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.2f}" if abs(x) >= 1_000 else f"{x:.6g}"


def calibration_markdown(stats: list[Stat]) -> str:
    """The calibration table as markdown: statistic | generated | published | diff %."""
    lines = ["| statistic | generated | published | diff % |", "|---|---:|---:|---:|"]
    for name, got, ref in stats:
        diff = f"{100 * (got - ref) / abs(ref):+.2f}" if ref else "n/a"
        lines.append(f"| {name} | {_number(got)} | {_number(round(ref, 6))} | {diff} |")
    return "\n".join(lines) + "\n"
