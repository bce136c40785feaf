"""What the trainers share: the tuning sample and the record each one leaves behind."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mqttids.learning import distinct

log = logging.getLogger(__name__)

FOLDS = 3
MIN_CLASS_ROWS = 300  # a tuning sample keeps at least this many rows of every class (or all of them)
# Loss weights against class imbalance, as powers of the balanced weight n / (k * n_class).
# "sqrt" is the default for every model: on the reduced sample it raised macro F1 over no
# weights (rf 0.706 -> 0.719, lr 0.663 -> 0.671), while plain balanced weights lowered it
# (rf 0.647 -> 0.537, lr 0.663 -> 0.603) by calling many legitimate packets attacks.
WEIGHTINGS = {"sqrt": 0.5, "balanced": 1.0, "none": 0.0}


def stratified_sample(train: DataFrame, rows: int, seed: int = 7) -> DataFrame:
    """About ``rows`` train rows with the train's class shares; small classes keep >= 300 rows.

    ``rows`` <= 0 or larger than the train split: the whole split. On distinct rows
    (:mod:`mqttids.learning.distinct`) rows and fractions count copies, and each row's copies
    are thinned, so the sample is distributed as the same sample of every row.
    """
    copies = distinct.copies_of(train)
    counts = {int(r["label"]): r["n"] for r in train.groupBy("label").agg(F.sum(copies).alias("n")).collect()}
    total = sum(counts.values())
    if rows <= 0 or total <= rows:
        log.info("tuning on the whole train split (%s rows)", f"{total:,}")
        return train
    share = rows / total
    fractions = {label: min(1.0, max(share, MIN_CLASS_ROWS / n)) for label, n in counts.items()}
    if distinct.COPIES in train.columns:
        sample = distinct.thinned(train, fractions, seed)
    else:
        sample = train.sampleBy("label", fractions, seed=seed)
    log.info(
        "large train split (%s rows): tuning on a stratified sample of about %s rows "
        "(%.1f%% of each class, at least %d rows of each), then fitting the final model on all rows",
        f"{total:,}",
        f"{sum(int(n * fractions[k]) for k, n in counts.items()):,}",
        share * 100,
        MIN_CLASS_ROWS,
    )
    return sample


@dataclass
class TrainingRecord:
    """One trained model: what its trainer chose and how long it took (logged to its MLflow run)."""

    model: str
    kind: str  # "spark" or "keras"
    params: dict[str, Any]
    grid: dict[str, list[Any]]
    cv_metric: str
    cv_score: float
    cv_folds: int
    cv_seconds: float
    fit_seconds: float
    tune_rows: int
    train_rows: int
    mlflow_run_id: str = ""
    candidates: list[dict[str, Any]] = field(default_factory=list)  # every CV candidate and its score

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Stopwatch:
    """Seconds since it was made; for the train-time figures logged to MLflow."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)
