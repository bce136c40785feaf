"""The three feature levels a learning run trains at, and where each one's files go.

* ``packet``: each packet's own columns (today's features, :mod:`mqttids.learning.features`);
* ``packet_context``: the packet's columns plus its connection so far
  (:func:`mqttids.connection.features.packet_context`: what a live detector knows);
* ``connection``: one row per connection window
  (:func:`mqttids.connection.features.connection_windows`).

The features step builds each requested level with the same code (chosen columns, indexers, a
scaler fitted on train only, connection-disjoint folds) into a folder of its own: the run folder
itself for ``packet`` (as before levels existed), ``<run folder>/<level>/`` for the others, so
every trainer and the evaluator work on a level by being given its folder. The two connection
levels need connection ids: packets without one (MQTTset's train/test CSVs, the generated
sample) are left out, and a batch with none skips those levels, with the reason written to
``<level>/skipped.json`` and logged, for the trainers and the evaluator to say the same.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mqttids.connection import features as connection
from mqttids.connection.features import LEVELS
from mqttids.learning import features
from mqttids.learning.artifacts import RunFolder, exists, read_json, remove, write_json
from mqttids.runtime import config
from mqttids.warehouse.batches import BatchRange

log = logging.getLogger(__name__)

SKIPPED = "skipped.json"


def parse(text: str) -> list[str]:
    """A comma-separated list of levels (the --levels flag), checked; empty means all."""
    levels = [x.strip() for x in text.split(",") if x.strip()] or list(LEVELS)
    unknown = sorted(set(levels) - set(LEVELS))
    if unknown:
        raise ValueError(f"unknown feature levels {unknown}: choose from {', '.join(LEVELS)}")
    return [level for level in LEVELS if level in levels]


def folder_of(run: RunFolder, level: str) -> RunFolder:
    """The folder of one level's features, pipeline and predictions inside the run folder."""
    if level not in LEVELS:
        raise ValueError(f"unknown feature level {level!r}: choose from {', '.join(LEVELS)}")
    return run if level == "packet" else RunFolder(run.path(level))


def candidates(level: str) -> tuple[str, ...]:
    """The columns a level's models may get (the features step still drops constant ones)."""
    if level == "packet":
        return features.CANDIDATES
    if level == "packet_context":
        return (*features.CANDIDATES, *connection.CONTEXT_FEATURES)
    return connection.CONNECTION_FEATURES


def lr_bins(level: str) -> int:
    """Logistic regression's and the networks' quantile bins at a level: MQTTIDS_LR_BINS per
    packet, none otherwise.

    A packet's own few columns need a weight per range (a length, a gap) that one slope cannot
    give, and that a network finds slowly on a few thousand packets. In context and per
    connection the columns already say it (counts, codes, the peers), and the bins' hundreds of
    one-hot columns overfit a split of a few hundred connections: on the genuine corpus they
    took LR from 0.914 to 0.859 in context and from 1.000 to 0.963 per connection, while
    bringing it from 0.457 to 0.524 per packet (docs/learning.md).
    """
    return int(config.LR_BINS.get()) if level == "packet" else 0


def rows(level: str, packets: DataFrame, window_seconds: float | None = None) -> DataFrame:
    """The level's rows made from packets (mqtt.packets columns, with their connection columns)."""
    if level == "packet":
        return packets
    if level == "packet_context":
        return connection.packet_context(packets)
    return connection.connection_windows(packets, window_seconds or connection.window_seconds())


def skip_reason(level: str, packets: DataFrame) -> str | None:
    """Why ``level`` cannot be built from these packets, or None when it can."""
    if level == "packet":
        return None
    with_ids = packets.where(F.col("connection_id").isNotNull()).groupBy("split").count().collect()
    splits = {r["split"]: r["count"] for r in with_ids}
    if not splits.get("train") or not splits.get("test"):
        return (
            f"level {level} skipped: the batch's {'train' if not splits.get('train') else 'test'} packets "
            "have no connection ids (MQTTset's train/test CSVs and the generated sample drop them; load "
            "captures or the per-class CSVs for connection features)"
        )
    return None


def skipped(folder: RunFolder) -> str | None:
    """The reason the features step skipped the level of ``folder``, or None if it was built."""
    marker = folder.path(SKIPPED)
    return read_json(marker)["reason"] if exists(marker) else None


def built(run: RunFolder, requested: list[str] | None = None) -> list[tuple[str, RunFolder]]:
    """(level, folder) of the levels to train or evaluate: the requested ones (None: every level
    the features step built), less those it skipped, each skip logged.

    Raises FileNotFoundError for a level with no features when it was requested, or is the
    packet level (which the features step always builds).
    """
    found = []
    for level in requested or LEVELS:
        folder = folder_of(run, level)
        reason = skipped(folder)
        if reason:
            log.warning(reason)
        elif exists(folder.features_meta):
            found.append((level, folder))
        elif requested or level == "packet":
            raise FileNotFoundError(f"no features at {folder.features_meta}: run jobs/features.py first")
    return found


def label(model: str, level: str) -> str:
    """How job output names a model of a level: the packet level's keep their bare names."""
    return model if level == "packet" else f"{model} [{level}]"


def build(
    spark: SparkSession,
    packets: DataFrame,
    run_id: str,
    run: RunFolder,
    batches: BatchRange,
    levels: list[str],
) -> dict[str, features.FeatureSummary | str]:
    """Build each level's features; {level: its summary, or the reason it was skipped}."""
    out: dict[str, features.FeatureSummary | str] = {}
    packets = packets.cache()
    for level in levels:
        folder = folder_of(run, level)
        reason = skip_reason(level, packets)
        if reason:
            log.warning(reason)
            write_json(folder.path(SKIPPED), {"level": level, "reason": reason})
            out[level] = reason
            continue
        log.info("level %s: building features", level)
        remove(folder.path(SKIPPED))  # an earlier attempt's, when this one has connections
        out[level] = features.build(
            spark, rows(level, packets), run_id, folder, batches, candidates(level), lr_bins(level)
        )
    packets.unpersist()
    return out
