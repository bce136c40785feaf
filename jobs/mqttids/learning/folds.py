"""Splits by connection: no connection has packets on both sides of a fold or of the test split.

Packets of one TCP connection are alike (same client, same behaviour), so a model that saw some
of them in training recognises the rest: a cross-validation or test score over packets of the
same connections is a memory test. The features step therefore

* checks that the test split shares no connection with train (:func:`check_disjoint`; ingest's
  ``--split-by connection`` or one capture per split make it so), and
* gives every train row a ``cv_group`` (:func:`with_groups`): the rank of its connection among
  the connections of its class, in a seeded random order. A trainer's fold is ``cv_group % k``
  (:func:`fold_of`), so each class's connections are spread evenly over any number of folds and
  no connection is split. Rows without a connection id (MQTTset's train/test CSVs) get a
  random group of their own, one of 60: row-wise k-fold as before, with every fold the same
  size for any k that divides 60 (3, 4, 5, 6, 10, ...). Sixty groups, not one per row, so
  that identical rows of one group can be collapsed into one weighted row
  (:mod:`mqttids.learning.distinct`) without changing which fold holds them.

``connection`` (a hash of the connection key, null without one) is written beside the features
so the split can be checked; it is never a feature.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from mqttids.connection.features import connection_key

GROUP = "cv_group"
CONNECTION = "connection"
SEED = 7
ROW_GROUPS = 60


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
    connections = (
        train.where(F.col(CONNECTION).isNotNull()).groupBy(CONNECTION).agg(F.min("target").alias("_t"))
    )
    order = Window.partitionBy("_t").orderBy(F.xxhash64(CONNECTION, F.lit(SEED)), CONNECTION)
    ranked = connections.select(CONNECTION, (F.row_number().over(order) - 1).alias(GROUP))
    rowwise = F.pmod(F.xxhash64(F.monotonically_increasing_id(), F.lit(SEED)), F.lit(ROW_GROUPS))
    return train.join(F.broadcast(ranked), CONNECTION, "left").withColumn(
        GROUP, F.coalesce(F.col(GROUP), rowwise).cast("long")
    )


def fold_of(folds: int) -> Column:
    """The fold (0..folds-1) of a row, from its ``cv_group``: Spark's CrossValidator foldCol."""
    return F.pmod(F.col(GROUP), F.lit(folds)).cast("int")
