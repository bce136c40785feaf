"""Batch scoring: captures (or raw per-class CSVs) to per-connection detections and a summary.

Inputs go in groups of as many as Spark has cores: a group's captures are converted with tshark
in Spark tasks, one each, in parallel (on Dataproc on the cluster's nodes, which read ``gs://``
themselves). For each input: parse its packets in Spark tasks, add the connection columns, and
for each level with a champion make that level's rows, let the champion's own fitted pipeline
and classifier score them (in its flavour: Spark ML, or Keras and XGBoost fed the pipeline's
vector they were trained on), and reduce them to one detection per connection (per window at the
connection level). The per-packet levels give a connection the class of the mean of its
packets' probabilities. All levels of one capture are written in one transaction that replaces
the capture's earlier rows.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mqttids.capture import fields as capture_fields
from mqttids.capture import spark_convert
from mqttids.detection import champions, frames, inputs, levels
from mqttids.detection import tables as detection_tables
from mqttids.detection.local_model import padded
from mqttids.detection.tables import Detection
from mqttids.runtime import db

log = logging.getLogger(__name__)

CHUNK = 8192  # rows scored at a time by a Keras or XGBoost champion (in the driver)


@dataclass
class _Sums:
    first: object = None
    last: object = None
    packets: int = 0
    rows: int = 0
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _scored_rows(champion: champions.Champion, frame: DataFrame, keys: list[str]) -> Iterator[tuple]:
    """(keys..., probabilities) of every row of the level's frame, by the champion."""
    if champion.kind == "spark":
        model = PipelineModel.load(str(champion.spark_model))
        scored = model.transform(frame).select(*keys, vector_to_array("probability").alias("p"))
        for row in scored.toLocalIterator(prefetchPartitions=True):
            yield (*row[:-1], np.asarray(row[-1]))
        return
    network = champion.network()
    pipeline = PipelineModel.load(str(champion.feature_pipeline))
    made = pipeline.transform(frame).select(*keys, vector_to_array(champion.reads, "float32").alias("x"))
    rows = made.toLocalIterator(prefetchPartitions=True)
    while chunk := list(islice(rows, CHUNK)):
        probabilities = network(np.asarray([r[-1] for r in chunk], dtype=np.float32))
        for row, p in zip(chunk, np.asarray(probabilities), strict=True):
            yield (*row[:-1], p)


def detections(champion: champions.Champion, packets: DataFrame, capture: str) -> list[Detection]:
    """The level's detections of one capture's packets (with connection columns)."""
    frame, keys = levels.frame(champion.level, packets)
    sums: dict[tuple[int, int], _Sums] = {}
    for connection_id, window_no, first, last, count, p in _scored_rows(champion, frame, keys):
        s = sums.setdefault((connection_id, window_no), _Sums(probabilities=np.zeros_like(p)))
        s.first = first if s.first is None else min(s.first, first)
        s.last = last if s.last is None else max(s.last, last)
        s.packets += int(count)
        s.rows += 1
        s.probabilities = s.probabilities + p
    out = []
    for (connection_id, window_no), s in sorted(sums.items()):
        mean = padded((s.probabilities / s.rows)[None, :])[0]
        out.append(
            Detection(
                capture,
                champion.level,
                int(connection_id),
                int(window_no),
                s.first,
                s.last,
                s.packets,
                tuple(float(v) for v in mean),
            )
        )
    return out


def _utc(moment: datetime | None) -> datetime | None:
    """PySpark gives naive local times: make them the instants they are."""
    return None if moment is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class CaptureResult:
    capture: str
    packets: int
    connections: int
    truncated: bool
    by_level: dict[str, int]  # detections written per level


def score_capture(
    parsed: DataFrame,
    capture: str,
    found: list[champions.Champion],
    url: str,
    run_id: str,
) -> tuple[int, int, dict[str, int]]:
    """Score one input's parsed packets with every champion and replace its rows: (packets
    scored, connections, detections written per level)."""
    parsed = parsed.cache()
    packets = frames.with_connections(parsed)
    total = parsed.count()
    scored = {c.level: (c, detections(c, packets, capture)) for c in found}
    tcp = sum(d.packets for d in next(iter(scored.values()))[1])
    if total != tcp:
        log.info("%s: %d packets outside TCP (no connection) are not scored", capture, total - tcp)
    conn = db.connect(url, application="mqttids-detect")
    try:
        detection_tables.replace_capture(conn, capture, scored, run_id)
    finally:
        conn.close()
    connections = len({d.connection_id for _, rows in scored.values() for d in rows})
    parsed.unpersist()
    return tcp, connections, {level: len(d) for level, (_, d) in scored.items()}


def _convert(spark: SparkSession, captures: list[inputs.Input], ports: list[int]) -> spark_convert.Batch:
    """The group's captures converted in Spark tasks, one each; InputError names a failure."""
    uris = [c.uri for c in captures]
    try:
        by_capture = spark_convert.mqtt_ports(spark, uris, ports)
        return spark_convert.convert(spark, [("", uri, by_capture[uri]) for uri in uris])
    except (spark_convert.CaptureError, spark_convert.ManifestError) as err:
        raise inputs.InputError(str(err)) from err


def score_group(
    spark: SparkSession,
    group: list[inputs.Input],
    found: list[champions.Champion],
    url: str,
    run_id: str,
    ports: list[int],
) -> list[CaptureResult]:
    """Score a group of inputs, its captures converted together first."""
    captures = [i for i in group if i.is_capture]
    converted = _convert(spark, captures, ports) if captures else None
    truncated = {c.source_file for c in converted.files if c.truncated} if converted else set()
    results = []
    try:
        for item in group:
            if item.is_capture:
                lines = converted.lines.where(F.col("source_file") == item.uri).select("raw").rdd
                parsed = frames.from_lines(spark, item.capture, lines, list(capture_fields.FIELDS))
            else:
                parsed = frames.from_csv(spark, item.capture, item.uri, item.header)
            tcp, connections, by_level = score_capture(parsed, item.capture, found, url, run_id)
            results.append(CaptureResult(item.capture, tcp, connections, item.uri in truncated, by_level))
            log.info("%s: %s", item.capture, by_level)
    finally:
        if converted is not None:
            converted.release()
    return results


def score(
    spark: SparkSession,
    uri: str,
    url: str,
    client,
    run_id: str,
    wanted: tuple[str, ...] = levels.LEVELS,
    mqtt_ports: list[int] | None = None,
    new_only: bool = False,
) -> list[CaptureResult]:
    """Score every input ``uri`` names (``new_only``: those with no summary yet) at every level."""
    files = inputs.find(spark, uri)
    if new_only:
        conn = db.connect(url, application="mqttids-detect")
        try:
            done = detection_tables.scored_captures(conn)
        finally:
            conn.close()
        files = [f for f in files if f.capture not in done]
        log.info("%d new inputs to score under %s", len(files), uri)
    # Captures are small next to a shuffle's 200 default partitions; and each partition would be
    # one job of toLocalIterator.
    cores = spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.shuffle.partitions", str(cores))
    ports = inputs.configured_ports(list(mqtt_ports or []))
    results = []
    with tempfile.TemporaryDirectory(prefix="mqttids-detect-") as tmp:
        found = champions.fetch_all(client, wanted, Path(tmp) / "champions")
        for start in range(0, len(files), cores):
            results += score_group(spark, files[start : start + cores], found, url, run_id, ports)
    return results
