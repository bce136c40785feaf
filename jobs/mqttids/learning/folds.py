"""Splits by connection: no connection has packets on both sides of a fold or of the test split.

Packets of one TCP connection are alike (same client, same behaviour), so a model that saw some
of them in training recognises the rest: a cross-validation or test score over packets of the
same connections is a memory test. The features step therefore

* checks that the test split shares no connection with train (:func:`check_disjoint`; ingest's
  ``--split-by connection`` or one capture per split make it so), and
* gives every train row a ``cv_group`` (:func:`with_groups`): the rank of its connection among
  the connections of its class, in a seeded random order. A trainer's fold is ``cv_group % k``
  (:func:`fold_of`), so each class's connections are spread evenly over any number of folds and
  no connection is split.
* groups whole captures instead, ranked the same way, when every train capture holds one class
  and every class has at least :data:`MIN_FOLDS` of them (a corpus built several times, or
  several captures per behaviour). Connections of one capture share its conditions (the
  broker, the clients' timing, and the peers' features, which count the capture's traffic), so
  a fold that validates on connections whose capture it trained on scores a model on what it
  has seen: on the genuine corpus, XGBoost's in-context CV said 0.937 by connection for a test
  score of 0.892. The test split is other captures, and now so is every fold's validation.
  Such folds need ``k`` at most the captures of a class: :func:`check_folds` says so.
  Rows without a connection id (MQTTset's train/test CSVs) get a
  random group of their own, one of 60: row-wise k-fold as before, with every fold the same
  size for any k that divides 60 (3, 4, 5, 6, 10, ...). Sixty groups, not one per row, so
  that identical rows of one group can be collapsed into one weighted row
  (:mod:`mqttids.learning.distinct`) without changing which fold holds them.

``connection`` (a hash of the connection key, null without one) is written beside the features
so the split can be checked; it is never a feature.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mqttids.connection.features import capture_key, connection_key

log = logging.getLogger(__name__)

GROUP = "cv_group"
CONNECTION = "connection"
SEED = 7
ROW_GROUPS = 60
MIN_FOLDS = 3  # the fewest folds a trainer takes (--folds); folds by capture need as many per class
_CAPTURE = "_cv_capture"


class ConnectionsShared(ValueError):
    """Some connection has packets in both train and test."""


def connection_column(df: DataFrame) -> Column:
    """A 64-bit hash of the row's connection key; null when the row has no connection id."""
    if "connection_id" not in df.columns:
        return F.lit(None).cast("long")
    return F.when(F.col("connection_id").isNotNull(), F.xxhash64(*connection_key(df)))


def with_connection(df: DataFrame) -> DataFrame:
    return df.withColumn(CONNECTION, connection_column(df))


def check_disjoint(train: DataFrame, test: DataFrame) -> None:
    """Raise ConnectionsShared when a connection (``connection`` column) is on both sides."""
    left = train.select(CONNECTION).where(F.col(CONNECTION).isNotNull()).distinct()
    shared = left.join(test.select(CONNECTION).distinct(), CONNECTION).count()
    if shared:
        raise ConnectionsShared(
            f"{shared} connections have packets in both train and test: a model would be tested on "
            "connections it was trained on; load the batch with --split-by connection (or one "
            "capture per split) so that every connection is on one side"
        )


def with_groups(train: DataFrame) -> DataFrame:
    """``train`` (with ``connection`` and ``target``) plus ``cv_group``; see the module docstring."""
    if "connection_id" in train.columns:
        train = train.withColumn(_CAPTURE, _capture_column(train))
    unit = _CAPTURE if _by_capture(train) else CONNECTION
    units = train.where(F.col(unit).isNotNull()).groupBy(unit).agg(F.min("target").alias("_t"))
    order = Window.partitionBy("_t").orderBy(F.xxhash64(unit, F.lit(SEED)), unit)
    ranked = units.select(unit, (F.row_number().over(order) - 1).alias(GROUP))
    rowwise = F.pmod(F.xxhash64(F.monotonically_increasing_id(), F.lit(SEED)), F.lit(ROW_GROUPS))
    grouped = train.join(F.broadcast(ranked), unit, "left").withColumn(
        GROUP, F.coalesce(F.col(GROUP), rowwise).cast("long")
    )
    return grouped.drop(_CAPTURE)


def _capture_column(df: DataFrame) -> Column:
    """A 64-bit hash naming the row's capture; null when the row has no connection id."""
    return F.when(F.col("connection_id").isNotNull(), F.xxhash64(*capture_key(df)))


def _by_capture(train: DataFrame) -> bool:
    """Whether every capture (``_CAPTURE``) holds one class and every class has MIN_FOLDS or more."""
    if _CAPTURE not in train.columns:
        return False
    captures = (
        train.where(F.col(_CAPTURE).isNotNull())
        .groupBy(_CAPTURE)
        .agg(F.countDistinct("target").alias("classes"), F.min("target").alias("target"))
    )
    per_class = captures.groupBy("target").agg(F.count("*").alias("n"), F.max("classes").alias("classes"))
    stats = per_class.collect()
    by_capture = bool(stats) and all(r["classes"] == 1 and r["n"] >= MIN_FOLDS for r in stats)
    fewest = min((r["n"] for r in stats), default=0)
    log.info(
        "cross-validation folds group %s (%d captures in the class with fewest)",
        "captures" if by_capture else "connections",
        fewest,
    )
    return by_capture


def check_folds(present: int, k: int) -> None:
    """Raise ValueError when only ``present`` of ``k`` folds have rows: some fold would validate
    on nothing, because ``k`` is above the captures (or connections) of every class."""
    if present < k:
        raise ValueError(
            f"only {present} of {k} cross-validation folds have rows: the folds group whole captures "
            f"or connections, and every class has fewer than {k}: lower --folds, or add captures"
        )


def fold_of(folds: int) -> Column:
    """The fold (0..folds-1) of a row, from its ``cv_group``: Spark's CrossValidator foldCol."""
    return F.pmod(F.col(GROUP), F.lit(folds)).cast("int")
