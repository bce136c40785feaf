"""Train rows collapsed to distinct rows with counts: the same loss, on a fraction of the rows.

MQTTset repeats itself: the augmented files are built by copying a few hundred to 130,000
attack packets thousands of times, and most reduced train rows are exact duplicates. A loss
summed over rows is the same when equal rows are replaced by one row weighted by how many
copies it stands for, so the features step writes, beside the train split, ``train_distinct``:
one row per distinct (model inputs, class, connection, cross-validation group) with its
``copies``. The CV group is in the key, so every fold holds exactly the rows it held before.

Who uses it (``MQTTIDS_TRAIN_ROWS``, default ``distinct``):

* logistic regression (full-batch L-BFGS) and XGBoost (weighted histograms): the same
  objective exactly, so the same model;
* the random forest: the same split criterion; its bootstrap draws one Poisson weight per
  distinct row instead of one per copy, the same in expectation;
* not the Keras networks: mini-batch SGD over distinct rows takes a fraction of the steps per
  epoch and lets one heavy row dominate its batch (measured: dnn_narrow -0.017 macro F1), so
  they keep reading every row.

Duplicates are counted before they are collapsed: the unseen-test-rows and leakage figures
compare test rows with every train row, as before.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mqttids.learning import folds
from mqttids.learning.artifacts import RunFolder, exists
from mqttids.runtime import config

COPIES = "copies"
SPLIT = "train_distinct"
CHOICES = ("distinct", "all")


def collapse(train: DataFrame, inputs: list[str]) -> DataFrame:
    """One row per distinct (inputs, class, connection, CV group) of ``train``, with its ``copies``."""
    key = [*inputs, "target", "label", folds.CONNECTION, folds.GROUP]
    return train.groupBy(*key).agg(F.count(F.lit(1)).alias(COPIES))


def train_uri(folder: RunFolder, rows: str | None = None) -> str:
    """The train features a weighted trainer reads: the distinct rows, unless ``rows`` (default
    ``MQTTIDS_TRAIN_ROWS``) says ``all`` or the features predate them."""
    rows = rows or config.TRAIN_ROWS.get()
    if rows not in CHOICES:
        raise ValueError(f"MQTTIDS_TRAIN_ROWS={rows!r}: choose from {', '.join(CHOICES)}")
    distinct = folder.features(SPLIT)
    return distinct if rows == "distinct" and exists(distinct) else folder.features("train")


def copies_of(df: DataFrame) -> Column:
    """How many train rows each row stands for: ``copies``, or 1 on the all-rows split."""
    return F.col(COPIES) if COPIES in df.columns else F.lit(1)


def rows_in(df: DataFrame) -> int:
    """The train rows ``df`` stands for: the sum of its copies."""
    return int(df.agg(F.sum(copies_of(df))).first()[0] or 0)


def thin(copies: np.ndarray, fraction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copies kept by sampling each copy with probability ``fraction``: Binomial(copies, fraction).

    A sample of the distinct rows drawn this way is distributed exactly as the same Bernoulli
    sample of every row, collapsed; dropping whole distinct rows instead would keep or lose a
    row of 100,000 copies at once.
    """
    return rng.binomial(copies.astype(np.int64), np.clip(fraction, 0.0, 1.0))


def thinned(df: DataFrame, fractions: dict[int, float], seed: int) -> DataFrame:
    """``df`` (with ``label``) with each row's copies thinned by its class's fraction, empty rows dropped.

    A single copy is kept or not by ``rand``; several are drawn by :func:`thin`, seeded by the row,
    in a plain Python UDF (an Arrow UDF would have to ship the vector columns, which Arrow lacks).
    """
    share = F.create_map(*[x for label, f in fractions.items() for x in (F.lit(float(label)), F.lit(f))])
    copies = copies_of(df)

    @F.udf("long")
    def draw(n: int, fraction: float, key: int) -> int:
        return int(
            thin(np.array([n]), np.array([fraction]), np.random.default_rng([seed, key & 0xFFFFFFFF]))[0]
        )

    single = df.where(copies == 1).where(F.rand(seed) < share[F.col("label")])
    key = F.xxhash64(*[F.col(c) for c in ("x", "label", folds.GROUP) if c in df.columns])
    several = df.where(copies > 1).withColumn(COPIES, draw(copies, share[F.col("label")], key))
    return single.unionByName(several.where(F.col(COPIES) > 0))
