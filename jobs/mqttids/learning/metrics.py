"""Scores of a classifier from its confusion matrix, and the matrix as a picture.

Accuracy alone hides MQTTset's failure mode (attack packets called legitimate),
so every model is scored with macro F1 (each class counts the same, flood's
few hundred rows as much as legitimate's) and per-class precision and recall.
Everything derives from one confusion matrix, so the figures always agree.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pyspark.ml.evaluation import Evaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mqttids.learning import distinct
from mqttids.schema import LABELS


def confusion(
    actual: np.ndarray, predicted: np.ndarray, copies: np.ndarray | None = None, classes: int = len(LABELS)
) -> np.ndarray:
    """counts[i, j]: rows of class i predicted as class j (a distinct row counts its ``copies``)."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    weight = 1 if copies is None else copies.astype(np.int64)
    np.add.at(counts, (actual.astype(int), predicted.astype(int)), weight)
    return counts


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(num.shape, dtype=float), where=den > 0)


@dataclass(frozen=True)
class Scores:
    """Accuracy, F1s and per-class figures of one confusion matrix."""

    matrix: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.matrix.sum())

    @property
    def support(self) -> np.ndarray:
        return self.matrix.sum(axis=1)

    @property
    def precision(self) -> np.ndarray:
        return _ratio(np.diag(self.matrix).astype(float), self.matrix.sum(axis=0).astype(float))

    @property
    def recall(self) -> np.ndarray:
        return _ratio(np.diag(self.matrix).astype(float), self.support.astype(float))

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return _ratio(2 * p * r, p + r)

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.matrix) / self.rows) if self.rows else 0.0

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the classes present in the data (absent classes would score 0 unfairly)."""
        present = self.support > 0
        return float(self.f1[present].mean()) if present.any() else 0.0

    @property
    def weighted_f1(self) -> float:
        return float((self.f1 * self.support).sum() / self.rows) if self.rows else 0.0

    def per_class(self) -> list[dict[str, float | int | str]]:
        return [
            {
                "label": label,
                "precision": float(self.precision[i]),
                "recall": float(self.recall[i]),
                "f1": float(self.f1[i]),
                "support": int(self.support[i]),
            }
            for i, label in enumerate(LABELS)
        ]


def scores(actual: np.ndarray, predicted: np.ndarray, copies: np.ndarray | None = None) -> Scores:
    return Scores(confusion(actual, predicted, copies))


def spark_confusion(
    predictions: DataFrame, label: str = "label", prediction: str = "prediction"
) -> np.ndarray:
    """The confusion matrix of a Spark predictions DataFrame, counted by Spark (a distinct train
    row, :mod:`mqttids.learning.distinct`, counts its copies)."""
    matrix = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    n = F.sum(distinct.copies_of(predictions)).alias("n")
    for row in predictions.groupBy(label, prediction).agg(n).collect():
        matrix[int(row[label]), int(row[prediction])] = row["n"]
    return matrix


class MacroF1Evaluator(Evaluator):
    """Spark's MulticlassClassificationEvaluator has no macro F1; CrossValidator gets it here."""

    def _evaluate(self, dataset: DataFrame) -> float:
        return Scores(spark_confusion(dataset)).macro_f1

    def isLargerBetter(self) -> bool:  # noqa: N802 - Spark's API name
        return True


def confusion_png(matrix: np.ndarray, title: str) -> bytes:
    """The matrix as a PNG: rows are the true class, cells show counts, colour shows row share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    share = _ratio(matrix.astype(float), matrix.sum(axis=1, keepdims=True).astype(float))
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=30, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            color = "white" if share[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{matrix[i, j]:,}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=7,
                color=color,
            )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
