"""The rows each feature level scores, made from a capture's packets as learning made them.

``packet``: each packet's own columns. ``packet_context``: each packet plus its connection so
far (:func:`mqttids.connection.features.packet_context`, causal). ``connection``: one row per
connection window (:func:`mqttids.connection.features.connection_windows`). Each frame gets the
same key columns, so one reduction turns any level's scores into per-connection detections.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mqttids.connection import features as connection_features

LEVELS: tuple[str, ...] = connection_features.LEVELS
KEYS = ["connection_id", "_window_no", "_first_time", "_last_time", "_packets"]


def _per_packet(frame: DataFrame) -> DataFrame:
    return frame.select(
        "*",
        F.lit(0).alias("_window_no"),
        F.col("capture_time").alias("_first_time"),
        F.col("capture_time").alias("_last_time"),
        F.lit(1).alias("_packets"),
    )


def frame(level: str, packets: DataFrame) -> tuple[DataFrame, list[str]]:
    """The level's rows of ``packets`` and the key columns every scored row carries."""
    if level == "packet":
        return _per_packet(packets), KEYS
    if level == "packet_context":
        return _per_packet(connection_features.packet_context(packets)), KEYS
    if level == "connection":
        windows = connection_features.connection_windows(packets, connection_features.window_seconds())
        keyed = windows.select(
            "*",
            F.col("window_no").alias("_window_no"),
            F.col("first_time").alias("_first_time"),
            F.col("last_time").alias("_last_time"),
            F.col("packets").alias("_packets"),
        )
        return keyed, KEYS
    raise ValueError(f"unknown feature level {level!r}: choose from {', '.join(LEVELS)}")
