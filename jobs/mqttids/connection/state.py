"""The live equivalent of the Spark connection features: one state per connection, pure Python.

A live detector sees packets one at a time. :class:`ConnectionState` keeps, for one connection,
the running sums the aggregates of :mod:`mqttids.connection.aggregates` need, twice over: for
the connection so far (each packet's ``ctx_`` features) and for its current window (the
``conn_`` features). The arithmetic is the one Spark uses (population standard deviation by
the same running update, times in whole microseconds), so a packet gets the same values live
as in :func:`mqttids.connection.features.packet_context` (tests/connection checks it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mqttids.connection.aggregates import CONNACK, MESSAGE_TYPES, NAMES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(when: object) -> int | None:
    """A capture time (datetime, or seconds since the epoch) in whole microseconds, or None.

    A naive datetime is local time, as Python and Spark's collect() both read it.
    """
    if when is None:
        return None
    if isinstance(when, datetime):
        if when.tzinfo is None:
            return round(when.timestamp() * 1e6)
        return (when - EPOCH) // MICROSECOND
    return round(float(when) * 1e6)


def _number(packet: Mapping[str, object], name: str) -> float:
    value = packet.get(name)
    return 0 if value is None else value


class Running:
    """The running aggregates of one run of packets (a connection so far, or one window)."""

    def __init__(self) -> None:
        self.n = 0
        self.bytes = 0
        self.bytes_max = 0
        self.mqtt_bytes = 0
        self.mqtt_bytes_max = 0
        self.t_min: int | None = None
        self.t_max: int | None = None
        self.previous_t: int | None = None
        self.gaps = 0
        self.gap_sum = 0.0
        self.gap_max: float | None = None
        self.gap_avg = 0.0  # Spark's running mean and second moment (CentralMomentAgg)
        self.gap_m2 = 0.0
        self.types = dict.fromkeys((t for t, _ in MESSAGE_TYPES), 0)
        self.with_mqtt = 0
        self.kalive_max = 0
        self.accepted = 0
        self.refused = 0

    def add(self, packet: Mapping[str, object], t: int | None) -> None:
        length, mqtt_length = _number(packet, "tcp_len"), _number(packet, "mqtt_len")
        kind, code = int(_number(packet, "mqtt_msgtype")), _number(packet, "mqtt_conack_val")
        self.n += 1
        self.bytes += length
        self.bytes_max = max(self.bytes_max, length)  # lengths are never negative
        self.mqtt_bytes += mqtt_length
        self.mqtt_bytes_max = max(self.mqtt_bytes_max, mqtt_length)
        if t is not None:
            self.t_min = t if self.t_min is None else min(self.t_min, t)
            self.t_max = t if self.t_max is None else max(self.t_max, t)
            if self.previous_t is not None:
                self._gap((t - self.previous_t) / 1e6)
        self.previous_t = t
        if kind in self.types:
            self.types[kind] += 1
        self.with_mqtt += kind > 0
        self.kalive_max = max(self.kalive_max, _number(packet, "mqtt_kalive"))
        if kind == CONNACK:
            self.accepted += code == 0
            self.refused += code != 0

    def _gap(self, gap: float) -> None:
        self.gaps += 1
        self.gap_sum += gap
        self.gap_max = gap if self.gap_max is None else max(self.gap_max, gap)
        delta = gap - self.gap_avg
        delta_n = delta / self.gaps
        self.gap_avg += delta_n
        self.gap_m2 += delta * (delta - delta_n)

    def values(self, prefix: str) -> dict[str, float]:
        """The aggregates, named with ``prefix`` (ctx_ or conn_), in NAMES order."""
        n = self.n
        found = {
            "packets": n,
            "bytes": self.bytes,
            "bytes_mean": self.bytes / n if n else 0.0,
            "bytes_max": self.bytes_max,
            "mqtt_bytes": self.mqtt_bytes,
            "mqtt_bytes_max": self.mqtt_bytes_max,
            "duration": (self.t_max - self.t_min) / 1e6 if self.t_min is not None else 0.0,
            "gap_mean": self.gap_sum / self.gaps if self.gaps else 0.0,
            "gap_max": self.gap_max if self.gap_max is not None else 0.0,
            "gap_std": math.sqrt(self.gap_m2 / self.gaps) if self.gaps else 0.0,
            **{f"n_{name}": self.types[t] for t, name in MESSAGE_TYPES},
            "mqtt_share": self.with_mqtt / n if n else 0.0,
            "kalive_max": self.kalive_max,
            "connack_accepted": self.accepted,
            "connack_refused": self.refused,
        }
        return {f"{prefix}{name}": float(found[name]) for name in NAMES}


def moment(us: int | None) -> datetime | None:
    """Whole microseconds since the epoch (as :func:`micros` makes them) as a UTC datetime."""
    return None if us is None else EPOCH + us * MICROSECOND


@dataclass(frozen=True)
class WindowFeatures:
    """One window of a connection: its number, its ``conn_`` features and its packets' times
    (the row :func:`mqttids.connection.features.connection_windows` makes for it)."""

    number: int
    features: dict[str, float]
    first_us: int | None
    last_us: int | None

    @property
    def packets(self) -> int:
        return int(self.features["conn_packets"])


class ConnectionState:
    """The state of one connection: feed its packets in arrival (connection_seq) order.

    ``update`` gives the packet's ``ctx_`` features (the connection so far, this packet
    included); ``window`` the current window so far. A connection is cut into windows of
    ``window_seconds`` from its first packet's time (by the latest time seen, so a window never
    reopens); when a packet opens a new window, ``closed`` holds the finished window until the
    next update.
    """

    def __init__(self, window_seconds: float) -> None:
        if not window_seconds > 0:
            raise ValueError(
                f"the connection window must be a positive number of seconds, not {window_seconds}"
            )
        self.window_seconds = float(window_seconds)
        self._so_far = Running()
        self._window = Running()
        self._first_t: int | None = None
        self.window_no = 0
        self.closed: WindowFeatures | None = None

    def _window_of(self) -> int:
        if self._first_t is None or self._so_far.t_max is None:
            return 0
        return math.floor(max(0, self._so_far.t_max - self._first_t) / (self.window_seconds * 1e6))

    def update(self, packet: Mapping[str, object]) -> dict[str, float]:
        """Add one packet (mqtt.packets column names; capture_time a datetime or epoch seconds)."""
        t = micros(packet.get("capture_time"))
        if self._first_t is None and t is not None:
            self._first_t = t
        self._so_far.add(packet, t)
        self.closed = None
        window_no = self._window_of()
        if window_no != self.window_no:
            self.closed = self.window()
            self._window = Running()
            self.window_no = window_no
        self._window.add(packet, t)
        return self._so_far.values("ctx_")

    def window(self) -> WindowFeatures:
        """The current window so far."""
        running = self._window
        return WindowFeatures(self.window_no, running.values("conn_"), running.t_min, running.t_max)

    @property
    def packets(self) -> int:
        return self._so_far.n
