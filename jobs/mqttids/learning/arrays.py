"""Features Parquet as numpy arrays, for the trainers that are not Spark (Keras, XGBoost).

A batch at a time (never the whole split in memory), or a stratified tuning sample kept in
memory; with each row's loss weight and its cross-validation group, so these trainers weigh
rows and fold by connection exactly as the Spark ones do (:mod:`mqttids.learning.folds`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from mqttids.learning.artifacts import local_path
from mqttids.learning.distinct import COPIES, thin
from mqttids.learning.folds import GROUP, check_folds
from mqttids.learning.tuning import MIN_CLASS_ROWS, WEIGHTINGS

log = logging.getLogger(__name__)

BATCH_ROWS = 4096
SCALED_VECTOR, SCALED_ARRAY = "features_scaled", "x"
BINNED_VECTOR, BINNED_ARRAY = "features_binned", "x_binned"


@dataclass(frozen=True)
class Input:
    """The vector a Keras or XGBoost model reads: the feature pipeline's column (what scoring
    rebuilds from new packets), its array column in the features Parquet, and its length."""

    vector: str
    column: str
    size: int


def scaled_input(meta: dict) -> Input:
    """The standardised vector: XGBoost's input, and the networks' where there are no bins."""
    return Input(SCALED_VECTOR, SCALED_ARRAY, int(meta["feature_size"]))


def network_input(meta: dict) -> Input:
    """The networks' input: the binned vector where the level has quantile bins (why:
    :func:`mqttids.learning.features.build_pipeline`), else the standardised one."""
    if int(meta.get("binned_size") or 0):
        return Input(BINNED_VECTOR, BINNED_ARRAY, int(meta["binned_size"]))
    return scaled_input(meta)


def dataset(uri: str) -> ds.Dataset:
    return ds.dataset(local_path(uri), format="parquet")


def matrix(batch: pa.RecordBatch | pa.Table, size: int, x: str = "x") -> np.ndarray:
    """The array column ``x`` as a float32 matrix (from Spark's array column, without a Python loop)."""
    column = batch.column(x)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, size)


def fit_weights(weight: np.ndarray, weighting: str) -> np.ndarray:
    """Each row's loss weight: its ``weight`` to the power the weighting names, as for Spark."""
    return np.power(weight.astype(np.float64), WEIGHTINGS[weighting]).astype(np.float32)


@dataclass(frozen=True)
class Rows:
    """Rows of a features Parquet: inputs, labels, loss weights (copies included), CV groups and
    the train rows each stands for."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    groups: np.ndarray
    copies: np.ndarray

    def take(self, idx: np.ndarray) -> Rows:
        return Rows(self.x[idx], self.y[idx], self.w[idx], self.groups[idx], self.copies[idx])


def _copies(batch: pa.RecordBatch | pa.Table) -> np.ndarray:
    """How many train rows each row stands for (:mod:`mqttids.learning.distinct`); 1 without copies."""
    if COPIES in batch.schema.names:
        return batch.column(COPIES).to_numpy().astype(np.int64)
    return np.ones(batch.num_rows, dtype=np.int64)


def batches(uri: str, size: int, weighting: str, rows: int = BATCH_ROWS, x: str = "x") -> Iterator[Rows]:
    """The train Parquet a batch at a time, with weights (groups are not needed here: zeros);
    ``x`` names the input array column."""
    source = dataset(uri)
    columns = [x, "label", "weight", *([COPIES] if COPIES in source.schema.names else [])]
    for batch in source.to_batches(columns=columns, batch_size=rows):
        if batch.num_rows:
            copies = _copies(batch)
            yield Rows(
                matrix(batch, size, x),
                batch.column("label").to_numpy().astype(np.int32),
                fit_weights(batch.column("weight").to_numpy(), weighting) * copies,
                np.zeros(batch.num_rows, dtype=np.int64),
                copies,
            )


def sample(uri: str, size: int, rows: int, weighting: str, rng: np.random.Generator, x: str = "x") -> Rows:
    """A stratified sample of about ``rows`` train rows (each class keeps at least 300), in memory;
    ``x`` names the input array column.

    Every row's copies are thinned by its class's share (:func:`mqttids.learning.distinct.thin`),
    so on distinct rows the sample is distributed as the same sample of every row; on the
    all-rows split (one copy each) it is a Bernoulli sample of the rows.
    """
    source = dataset(uri)
    table = source.to_table(columns=["label", GROUP, *([COPIES] if COPIES in source.schema.names else [])])
    labels = table.column("label").to_numpy().astype(np.int32)
    copies = _copies(table)
    total = int(copies.sum())
    if 0 < rows < total:
        share = rows / total
        fraction = np.ones(len(labels))
        for label in np.unique(labels):
            n = int(copies[labels == label].sum())
            fraction[labels == label] = min(1.0, max(share, MIN_CLASS_ROWS / n))
        copies = thin(copies, fraction, rng)
        log.info("tuning on a stratified sample of %s of %s train rows", f"{copies.sum():,}", f"{total:,}")
    keep = copies > 0
    parts, offset = [], 0
    for batch in source.to_batches(columns=[x, "weight"], batch_size=BATCH_ROWS):
        mask = keep[offset : offset + batch.num_rows]
        parts.append((matrix(batch, size, x)[mask], batch.column("weight").to_numpy()[mask]))
        offset += batch.num_rows
    groups = table.column(GROUP).to_numpy()
    weights = fit_weights(np.concatenate([w for _, w in parts]) if parts else np.zeros(0), weighting)
    return Rows(
        np.concatenate([m for m, _ in parts]) if parts else np.zeros((0, size), np.float32),
        labels[keep],
        weights * copies[keep],
        groups[keep],
        copies[keep],
    )


def group_folds(groups: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) indices of k folds by ``cv_group % k``: a connection (or capture)
    stays in one fold."""
    fold_of = np.mod(groups, k)
    check_folds(len(np.unique(fold_of)), k)
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]
