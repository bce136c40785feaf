"""Connection features in Spark: each packet's connection so far, and whole-connection windows.

``packet_context`` adds to each packet the ``ctx_`` aggregates of its connection *so far*: a
window over the connection ordered by ``connection_seq``, rows up to the current one, so a
packet never sees a later packet (what a live detector can know); and its peers
(:mod:`mqttids.connection.peers`): the traffic of its capture in the seconds before it.
``connection_windows`` makes one row per connection window with the ``conn_`` aggregates: a
connection is cut into fixed windows of ``window_seconds`` (MQTTIDS_CONNECTION_WINDOW) from its
first packet, so a connection that lasts a week is not one row. :class:`ConnectionState` is the
live equivalent.

Never a feature (:data:`IDENTIFIERS`): the connection id, addresses and ports, the source file,
absolute times. They identify the capture, not the behaviour. Packets without a connection id
(MQTTset's train/test CSVs dropped it) have no connection features and are left out.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mqttids.connection import aggregates, peers
from mqttids.connection.aggregates import CONNACK, MESSAGE_TYPES
from mqttids.connection.state import ConnectionState
from mqttids.runtime import config

__all__ = [
    "CONNECTION_FEATURES",
    "CONTEXT_FEATURES",
    "IDENTIFIERS",
    "LEVELS",
    "ConnectionState",
    "capture_key",
    "connection_key",
    "connection_windows",
    "packet_context",
    "window_seconds",
]

LEVELS = ("packet", "packet_context", "connection")
CONTEXT_FEATURES: tuple[str, ...] = (*aggregates.names("ctx_"), *(f"ctx_{n}" for n in peers.NAMES))
CONNECTION_FEATURES: tuple[str, ...] = aggregates.names("conn_")
# Columns that are never features: they name a capture, a file or a moment, not a behaviour.
IDENTIFIERS: tuple[str, ...] = (
    "connection_id",
    "connection_seq",
    "capture_time",
    "first_time",
    "last_time",
    "window_no",
    "source_file",
    "batch_date",
    "part_no",
    "split",
    "tcp_stream",
    "frame_number",
    "frame_time_epoch",
    "ip_src",
    "ip_dst",
    "tcp_srcport",
    "tcp_dstport",
)
_T, _GAP, _CLOSES = "_capture_us", "_gap_seconds", "_closes"


def window_seconds() -> float:
    """MQTTIDS_CONNECTION_WINDOW as a positive number of seconds."""
    text = config.CONNECTION_WINDOW.get()
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"MQTTIDS_CONNECTION_WINDOW must be a positive number of seconds, not {text!r}")
    return value


def connection_key(df: DataFrame) -> list[str]:
    """The columns that name a connection: connection_id is unique within one batch only."""
    return [c for c in ("batch_date", "connection_id") if c in df.columns]


def _value(name: str) -> Column:
    return F.coalesce(F.col(name), F.lit(0))


def _aggregates(prefix: str, over: Callable[[Column], Column]) -> list[Column]:
    """The aggregates of aggregates.NAMES, each ``over`` a window or as a group aggregate."""
    kind, code = _value("mqtt_msgtype"), _value("mqtt_conack_val")
    n = over(F.count(F.lit(1)))

    def count(condition: Column) -> Column:
        return over(F.sum(F.when(condition, 1).otherwise(0)))

    found = {
        "packets": n,
        "bytes": over(F.sum(_value("tcp_len"))),
        "bytes_mean": over(F.sum(_value("tcp_len"))) / n,
        "bytes_max": over(F.max(_value("tcp_len"))),
        "mqtt_bytes": over(F.sum(_value("mqtt_len"))),
        "mqtt_bytes_max": over(F.max(_value("mqtt_len"))),
        "duration": F.coalesce((over(F.max(_T)) - over(F.min(_T))) / 1e6, F.lit(0.0)),
        "gap_mean": F.coalesce(over(F.avg(_GAP)), F.lit(0.0)),
        "gap_max": F.coalesce(over(F.max(_GAP)), F.lit(0.0)),
        "gap_std": F.coalesce(over(F.stddev_pop(_GAP)), F.lit(0.0)),
        **{f"n_{name}": count(kind == value) for value, name in MESSAGE_TYPES},
        "mqtt_share": count(kind > 0) / n,
        "kalive_max": over(F.max(_value("mqtt_kalive"))),
        "connack_accepted": count((kind == CONNACK) & (code == 0)),
        "connack_refused": count((kind == CONNACK) & (code != 0)),
    }
    return [found[name].cast("double").alias(f"{prefix}{name}") for name in aggregates.NAMES]


def _with_times(packets: DataFrame) -> DataFrame:
    """Packets that have a connection, with their capture time in whole microseconds."""
    return packets.where(F.col("connection_id").isNotNull()).withColumn(_T, F.unix_micros("capture_time"))


def _gaps(df: DataFrame, partition: list[str]) -> DataFrame:
    """Seconds since the previous packet of the same partition (null for its first packet)."""
    previous = F.lag(_T).over(Window.partitionBy(*partition).orderBy("connection_seq"))
    return df.withColumn(_GAP, (F.col(_T) - previous) / 1e6)


def packet_context(packets: DataFrame) -> DataFrame:
    """``packets`` with a connection id, plus CONTEXT_FEATURES computed causally.

    Needs mqtt.packets' connection_id, connection_seq, capture_time and tcp_flags (and
    batch_date when the rows come from more than one batch).
    """
    key = connection_key(packets)
    so_far = (
        Window.partitionBy(*key)
        .orderBy("connection_seq")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    staged = _gaps(_with_times(packets), key)
    closing = (F.coalesce(F.col("tcp_flags"), F.lit(0)).bitwiseAND(peers.CLOSING_FLAGS) != 0).cast("int")
    first_close = (closing == 1) & (F.sum(closing).over(so_far) == 1)
    staged = staged.select(
        *packets.columns,
        _T,
        first_close.cast("int").alias(_CLOSES),
        *_aggregates("ctx_", lambda c: c.over(so_far)),
    )
    return _with_peers(staged).drop(_T, _CLOSES)


def capture_key(packets: DataFrame) -> list[Column]:
    """The columns that name a packet's capture. Ingest numbers a batch's captures in the high
    32 bits of connection_id (file number << 32 | tcp.stream); detection's frames name it in
    ``capture`` (their connection_id is the tcp.stream, so its high bits are 0)."""
    named = [F.col(c) for c in ("batch_date", "capture") if c in packets.columns]
    return [*named, F.shiftright(F.col("connection_id"), 32)]


def _with_peers(staged: DataFrame) -> DataFrame:
    """``staged`` plus the peers' features: counts over its capture, rows so far in (capture
    time, connection, position) order, less the rows a whole window older."""
    capture = Window.partitionBy(*capture_key(staged))
    so_far = capture.orderBy(_T, "connection_id", "connection_seq").rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    aged = capture.orderBy(_T).rangeBetween(Window.unboundedPreceding, -round(peers.WINDOW_SECONDS * 1e6))
    opens = (F.col("connection_seq") == 1).cast("int")

    def recent(flag: Column) -> Column:
        return F.sum(flag).over(so_far) - F.coalesce(F.sum(flag).over(aged), F.lit(0))

    found = {
        "peer_packets": recent(F.lit(1)),
        "peer_opens": recent(opens),
        "peer_active": F.sum(opens).over(so_far) - F.sum(_CLOSES).over(so_far),
    }
    return staged.select("*", *(found[n].cast("double").alias(f"ctx_{n}") for n in peers.NAMES))


def connection_windows(packets: DataFrame, window_seconds: float) -> DataFrame:
    """One row per (connection, window_no): CONNECTION_FEATURES, target, first_time, last_time, packets.

    A packet's window is the number of whole ``window_seconds`` between the connection's first
    packet and the latest capture time seen up to it (so windows only move forward, as live).
    The rows keep the connection key, and ``split`` when the packets have one.
    """
    if not window_seconds > 0:
        raise ValueError(f"the connection window must be a positive number of seconds, not {window_seconds}")
    key = connection_key(packets)
    so_far = (
        Window.partitionBy(*key)
        .orderBy("connection_seq")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    span = F.max(_T).over(so_far) - F.first(_T, ignorenulls=True).over(so_far)
    window_no = F.coalesce(F.floor(F.greatest(F.lit(0), span) / F.lit(window_seconds * 1e6)), F.lit(0))
    staged = _with_times(packets).withColumn("window_no", window_no.cast("long"))
    staged = _gaps(staged, [*key, "window_no"])
    carried = [c for c in ("split",) if c in packets.columns]
    target = [F.min("target").alias("target")] if "target" in packets.columns else []
    return staged.groupBy(*key, *carried, "window_no").agg(
        *_aggregates("conn_", lambda c: c),
        *target,
        F.min("capture_time").alias("first_time"),
        F.max("capture_time").alias("last_time"),
        F.count(F.lit(1)).alias("packets"),
    )
