"""Parsed packets as a Spark DataFrame typed like ``mqtt.packets``, with their connection columns.

The champion's pipeline was fitted on packets read from ``mqtt.packets`` (smallint, integer,
double and text columns), and Spark's StringIndexer indexes a value as its type casts to text,
so a scored packet must have exactly those types. ``connection_id`` is tshark's ``tcp.stream``
within the capture (the capture is its own column), ``connection_seq`` the position in it by
``frame.number`` and ``capture_time`` the ``frame.time_epoch``, as ingest builds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pyspark import RDD
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mqttids.detection import packets
from mqttids.schema import NAMES

_TYPES = {
    "smallint": T.ShortType(),
    "integer": T.IntegerType(),
    "double precision": T.DoubleType(),
    "text": T.StringType(),
}

PACKET_SCHEMA = T.StructType(
    [T.StructField("capture", T.StringType(), False)]
    + [T.StructField(c.name, _TYPES[c.pg_type], False) for c in packets.FEATURE_COLUMNS]
    + [
        T.StructField(packets.STREAM, T.LongType(), True),
        T.StructField(packets.NUMBER, T.LongType(), False),
        T.StructField(packets.EPOCH, T.DoubleType(), False),
    ]
)
FIELD_ORDER = [f.name for f in PACKET_SCHEMA.fields]
FEATURE_NAMES = [n for n in NAMES if n != "target"]


def as_tuple(capture: str, packet: dict) -> tuple:
    return (capture, *(packet[n] for n in FIELD_ORDER[1:]))


def from_packets(spark: SparkSession, capture: str, parsed: Iterable[dict]) -> DataFrame:
    """A DataFrame of packets already parsed in this process (tests, small inputs)."""
    return spark.createDataFrame([as_tuple(capture, p) for p in parsed], PACKET_SCHEMA)


def parse_partition(header: list[str], capture: str):
    """The Spark task body: the CSV lines of one export (header excluded) as packet tuples."""

    def run(lines: Iterator) -> Iterator[tuple]:
        for fields in packets.rows(header, (row[0] for row in lines)):
            yield as_tuple(capture, packets.parse(fields))

    return run


def from_lines(spark: SparkSession, capture: str, lines: RDD, header: list[str]) -> DataFrame:
    """The packets of an export's data lines (rows of one field), parsed in Spark tasks."""
    return spark.createDataFrame(lines.mapPartitions(parse_partition(header, capture)), PACKET_SCHEMA)


def from_csv(spark: SparkSession, capture: str, uri: str, header: list[str]) -> DataFrame:
    """The packets of a raw per-class CSV (its first line the header), parsed in Spark tasks."""
    lines = spark.read.text(uri).rdd.zipWithIndex().filter(lambda pair: pair[1] > 0).keys()
    return from_lines(spark, capture, lines, header)


def with_connections(frame: DataFrame) -> DataFrame:
    """The connection columns the feature levels need; packets outside TCP are left out."""
    tcp = frame.where(F.col(packets.STREAM).isNotNull())
    order = Window.partitionBy("capture", packets.STREAM).orderBy(packets.NUMBER)
    return tcp.select(
        "*",
        F.col(packets.STREAM).alias("connection_id"),
        F.row_number().over(order).alias("connection_seq"),
        F.timestamp_seconds(packets.EPOCH).alias("capture_time"),
    )
