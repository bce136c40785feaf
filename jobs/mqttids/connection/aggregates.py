"""The one definition of the connection aggregates: names, and how each is computed from sums.

Both the Spark functions (:mod:`mqttids.connection.features`) and the live state
(:mod:`mqttids.connection.state`) compute the same named aggregates over a run of packets
(a connection so far, or one window of it): counts, sums, maxima, the time span, and the
inter-arrival gaps' mean, maximum and population standard deviation. MQTT message types are
counted one by one (``mqtt_msgtype`` 0 means the packet has no MQTT layer).
"""

from __future__ import annotations

# mqtt.msgtype values and the names their counts get (MQTT 3.1.1; 15 is reserved, MQTT 5's AUTH).
MESSAGE_TYPES: tuple[tuple[int, str], ...] = (
    (1, "connect"),
    (2, "connack"),
    (3, "publish"),
    (4, "puback"),
    (5, "pubrec"),
    (6, "pubrel"),
    (7, "pubcomp"),
    (8, "subscribe"),
    (9, "suback"),
    (10, "unsubscribe"),
    (11, "unsuback"),
    (12, "pingreq"),
    (13, "pingresp"),
    (14, "disconnect"),
    (15, "reserved"),
)
CONNACK = 2

# The aggregates, in column order. Every name gets a prefix: ctx_ (the connection so far, per
# packet) or conn_ (one row per connection window).
NAMES: tuple[str, ...] = (
    "packets",  # packets so far, the current one included: the packet's position
    "bytes",  # sum of tcp.len
    "bytes_mean",
    "bytes_max",
    "mqtt_bytes",  # sum of mqtt.len
    "mqtt_bytes_max",
    "duration",  # seconds from the first packet to the last (max - min capture time)
    "gap_mean",  # inter-arrival gaps between consecutive packets, in seconds (0 with no gap yet)
    "gap_max",
    "gap_std",  # population standard deviation
    *(f"n_{name}" for _, name in MESSAGE_TYPES),
    "mqtt_share",  # share of packets with an MQTT layer
    "kalive_max",  # largest keep-alive a CONNECT asked for
    "connack_accepted",  # CONNACKs with return code 0
    "connack_refused",  # CONNACKs with any other return code (bad password, not authorised...)
)

# The packet columns (mqtt.packets names) the aggregates read.
INPUTS: tuple[str, ...] = ("tcp_len", "mqtt_len", "mqtt_msgtype", "mqtt_kalive", "mqtt_conack_val")


def names(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{n}" for n in NAMES)
