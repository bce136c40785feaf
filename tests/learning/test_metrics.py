"""Every score of :mod:`mqttids.learning.metrics` against scikit-learn, an independent implementation.

Macro F1 picks the cross-validation winner and decides promotion, so a wrong formula would
change which model ships. Each case compares the confusion matrix, per-class precision, recall,
F1 and support, accuracy, macro F1 and weighted F1 with scikit-learn's, on predictions where
every class appears, where a class is never predicted, where a class is predicted but absent from
the labels, and where a class is absent from both. The same holds for the Spark path
(``spark_confusion`` and the ``MacroF1Evaluator`` that CrossValidator uses).

Macro F1 here is the mean over the classes present in the labels (a class with no rows would
score 0 whatever the model does), which is scikit-learn's macro F1 with ``labels`` = the classes
of ``y_true``; scikit-learn's ``zero_division=0`` is this module's 0/0 = 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mqttids.learning.metrics import MacroF1Evaluator, Scores, confusion, scores, spark_confusion
from mqttids.schema import LABELS

CLASSES = list(range(len(LABELS)))
RNG = np.random.default_rng(20261201)


def _noisy(actual: np.ndarray, right: float, classes: list[int]) -> np.ndarray:
    """Predictions that are right with probability ``right``, else one of ``classes`` at random."""
    wrong = RNG.choice(classes, size=actual.size)
    return np.where(RNG.random(actual.size) < right, actual, wrong)


def _case_all_classes() -> tuple[np.ndarray, np.ndarray]:
    actual = RNG.choice(CLASSES, size=600, p=[0.5, 0.3, 0.08, 0.06, 0.05, 0.01])
    return actual, _noisy(actual, 0.7, CLASSES)


def _case_never_predicted() -> tuple[np.ndarray, np.ndarray]:
    """Flood (5) and slowite (4) are in the labels but the model never predicts them."""
    actual = RNG.choice(CLASSES, size=500)
    predicted = _noisy(actual, 0.6, [0, 1, 2, 3])
    return actual, np.where(np.isin(predicted, [4, 5]), 0, predicted)


def _case_predicted_but_absent() -> tuple[np.ndarray, np.ndarray]:
    """Flood (5) has no rows, yet the model predicts it: false positives only."""
    actual = RNG.choice([0, 1, 2, 3, 4], size=500)
    return actual, _noisy(actual, 0.6, CLASSES)


def _case_absent_everywhere() -> tuple[np.ndarray, np.ndarray]:
    """Slowite and flood appear nowhere, as in the genuine rows: 0/0 everywhere for them."""
    actual = RNG.choice([0, 1, 2, 3], size=300)
    return actual, _noisy(actual, 0.5, [0, 1, 2, 3])


def _case_perfect() -> tuple[np.ndarray, np.ndarray]:
    actual = RNG.choice(CLASSES, size=120)
    return actual, actual.copy()


def _case_all_wrong() -> tuple[np.ndarray, np.ndarray]:
    actual = RNG.choice([0, 1], size=50)
    return actual, 1 - actual


CASES = {
    "all_classes": _case_all_classes(),
    "never_predicted": _case_never_predicted(),
    "predicted_but_absent": _case_predicted_but_absent(),
    "absent_everywhere": _case_absent_everywhere(),
    "perfect": _case_perfect(),
    "all_wrong": _case_all_wrong(),
}


def assert_scores_match_sklearn(result: Scores, actual: np.ndarray, predicted: np.ndarray) -> None:
    np.testing.assert_array_equal(result.matrix, skm.confusion_matrix(actual, predicted, labels=CLASSES))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        actual, predicted, labels=CLASSES, zero_division=0
    )
    np.testing.assert_allclose(result.precision, precision, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.recall, recall, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.f1, f1, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(result.support, support)
    assert result.rows == actual.size
    assert result.accuracy == pytest.approx(skm.accuracy_score(actual, predicted), abs=1e-12)
    present = sorted(set(actual.tolist()))
    assert result.macro_f1 == pytest.approx(
        skm.f1_score(actual, predicted, labels=present, average="macro", zero_division=0), abs=1e-12
    )
    assert result.weighted_f1 == pytest.approx(
        skm.f1_score(actual, predicted, labels=CLASSES, average="weighted", zero_division=0), abs=1e-12
    )
    for i, row in enumerate(result.per_class()):
        assert row == {
            "label": LABELS[i],
            "precision": pytest.approx(precision[i], abs=1e-12),
            "recall": pytest.approx(recall[i], abs=1e-12),
            "f1": pytest.approx(f1[i], abs=1e-12),
            "support": int(support[i]),
        }


@pytest.mark.parametrize("case", CASES)
def test_scores_equal_scikit_learn(case):
    actual, predicted = CASES[case]
    assert_scores_match_sklearn(scores(actual, predicted), actual, predicted)


def test_the_cases_cover_what_they_claim():
    """Guards the fixtures: each edge case really has the absent class it is named after."""
    actual, predicted = CASES["never_predicted"]
    assert {4, 5} <= set(actual) and not {4, 5} & set(predicted)
    actual, predicted = CASES["predicted_but_absent"]
    assert 5 not in set(actual) and 5 in set(predicted)
    actual, predicted = CASES["absent_everywhere"]
    assert not {4, 5} & (set(actual) | set(predicted))


def test_a_class_absent_from_the_labels_does_not_count_in_macro_f1():
    """Hand-computed: two classes, one false prediction of a third class that has no rows."""
    actual = np.array([0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 2, 1, 0])
    result = scores(actual, predicted)
    # class 0: tp 2, fp 1, fn 1 -> p 2/3, r 2/3, f1 2/3; class 1: tp 1, fp 0, fn 1 -> p 1, r 1/2, f1 2/3
    assert result.f1[:3] == pytest.approx([2 / 3, 2 / 3, 0.0])
    assert result.macro_f1 == pytest.approx(2 / 3)  # the mean over classes 0 and 1 only
    assert result.weighted_f1 == pytest.approx((3 * 2 / 3 + 2 * 2 / 3) / 5)
    assert result.accuracy == pytest.approx(3 / 5)


def test_float_predictions_count_like_integers():
    """Spark and Keras hand over predictions as floats (0.0, 1.0, ...)."""
    actual, predicted = CASES["all_classes"]
    np.testing.assert_array_equal(
        confusion(actual.astype(float), predicted.astype(float)), confusion(actual, predicted)
    )


def test_empty_input_scores_zero():
    result = scores(np.array([], dtype=int), np.array([], dtype=int))
    assert (result.rows, result.accuracy, result.macro_f1, result.weighted_f1) == (0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("case", ["all_classes", "never_predicted", "predicted_but_absent"])
def test_spark_confusion_and_the_cross_validation_evaluator_equal_scikit_learn(spark, case):
    actual, predicted = CASES[case]
    frame = spark.createDataFrame(
        [(float(a), float(p)) for a, p in zip(actual, predicted, strict=True)], ["label", "prediction"]
    )
    assert_scores_match_sklearn(Scores(spark_confusion(frame)), actual, predicted)
    present = sorted(set(actual.tolist()))
    assert MacroF1Evaluator().evaluate(frame) == pytest.approx(
        skm.f1_score(actual, predicted, labels=present, average="macro", zero_division=0), abs=1e-12
    )
    assert MacroF1Evaluator().isLargerBetter()
