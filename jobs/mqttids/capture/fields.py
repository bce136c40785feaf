"""The MQTTset authors' tshark field export, as the single source of truth.

The per-class CSVs of the public distribution were made by one tshark field export per capture
with these 60 fields in this order and these options (see ``docs/corpus.md``); converting a
capture any other way would give columns that do not line up with theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

FIELDS: tuple[str, ...] = (
    "frame.time_delta",
    "frame.time_delta_displayed",
    "frame.time_epoch",
    "frame.time_invalid",
    "frame.time_relative",
    "eth.src",
    "eth.dst",
    "ip.src",
    "ip.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "frame.cap_len",
    "frame.len",
    "frame.number",
    "tcp.stream",
    "tcp.analysis.initial_rtt",
    "tcp.time_delta",
    "tcp.len",
    "tcp.window_size_value",
    "tcp.checksum",
    "mqtt.clientid",
    "mqtt.clientid_len",
    "mqtt.conack.flags",
    "mqtt.conack.flags.reserved",
    "mqtt.conack.flags.sp",
    "mqtt.conack.val",
    "mqtt.conflag.cleansess",
    "mqtt.conflag.passwd",
    "mqtt.conflag.qos",
    "mqtt.conflag.reserved",
    "mqtt.conflag.retain",
    "mqtt.conflag.uname",
    "mqtt.conflag.willflag",
    "mqtt.conflags",
    "mqtt.dupflag",
    "mqtt.hdrflags",
    "mqtt.kalive",
    "mqtt.len",
    "mqtt.msg",
    "mqtt.msgid",
    "mqtt.msgtype",
    "mqtt.passwd",
    "mqtt.passwd_len",
    "mqtt.proto_len",
    "mqtt.protoname",
    "mqtt.qos",
    "mqtt.retain",
    "mqtt.sub.qos",
    "mqtt.suback.qos",
    "mqtt.topic",
    "mqtt.topic_len",
    "mqtt.username",
    "mqtt.username_len",
    "mqtt.ver",
    "mqtt.willmsg",
    "mqtt.willmsg_len",
    "mqtt.willtopic",
    "mqtt.willtopic_len",
    "ip.proto",
)

# Without tcp.calculate_timestamps tshark leaves tcp.time_delta empty.
PREFERENCES: tuple[str, ...] = ("tcp.calculate_timestamps:TRUE",)

# Header row, comma separated, every value double-quoted, first occurrence of a repeated field.
EXPORT_OPTIONS: tuple[str, ...] = ("header=y", "separator=,", "quote=d", "occurrence=f")

# tshark decodes MQTT on this TCP port only; a broker on another port needs "decode as".
MQTT_PORT = 1883


def export_args(capture: str, mqtt_ports: Sequence[int] = (MQTT_PORT,)) -> list[str]:
    """The tshark arguments (after the program name) of the authors' export of ``capture``.

    ``-n`` turns name resolution off: it changes no exported value, and avoids DNS lookups.
    """
    args = ["-n", "-r", capture, "-T", "fields"]
    for port in mqtt_ports:
        if port != MQTT_PORT:
            args += ["-d", f"tcp.port=={port},mqtt"]
    for preference in PREFERENCES:
        args += ["-o", preference]
    for option in EXPORT_OPTIONS:
        args += ["-E", option]
    for field in FIELDS:
        args += ["-e", field]
    return args
