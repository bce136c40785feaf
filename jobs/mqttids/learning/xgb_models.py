"""Gradient-boosted trees (Task III): XGBoost, multi-class, cross-validated like the others.

Spark ML's GBTClassifier is binary only. XGBoost is the maintained multi-class implementation
people reach for on tabular data, and its ``hist`` trees run well on two cores. It trains here
as plain XGBoost on the features Parquet, not through ``xgboost.spark``: the Spark estimator runs
each fit as a barrier stage with one task per worker, which on a 2-core local Spark means one
core per fit, a barrier job per candidate and fold, and a model type ``mlflow.spark`` cannot log
inside a PipelineModel. The tuning sample is in memory (small, as for Keras); the final fit
streams the whole train split from Parquet into a ``QuantileDMatrix`` (binned, about a byte per
feature and row), never a Python copy of it, unless the sample already is the whole split: then
the trees are grown by exact greedy search on it (:func:`tree_method`).

Rows are weighted (``weight`` to the power of the weighting, as the other trainers, times the
rows a distinct row stands for: :mod:`mqttids.learning.distinct`) and folded by connection.
The winner's round count is the mean best round of its folds' early stopping. The booster is
logged in MLflow's XGBoost flavor with the fitted feature pipeline beside it
(``feature_pipeline``, as for Keras), loaded back, and must predict as the one in memory.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from mqttids.learning import arrays, distinct, grids, tracking
from mqttids.learning.artifacts import RunFolder, local_copy, read_json, write_bytes
from mqttids.learning.metrics import scores
from mqttids.learning.tuning import FOLDS, WEIGHTINGS, Stopwatch, TrainingRecord
from mqttids.schema import LABELS

log = logging.getLogger(__name__)

MODELS = grids.XGB_MODELS
SEED = 7
THREADS = 2
EARLY_STOPPING = 10
PACKAGE = "xgboost-cpu"  # the CPU-only wheel of xgboost (no CUDA libraries); imported as xgboost


def tree_method(rows: arrays.Rows, train_rows: int) -> str:
    """``exact`` when the tuning sample is the whole train split, else ``hist``.

    ``hist`` splits at a train value itself (the edge of its bin), exact greedy search halfway
    between two train values, as the forest does. On a small split that matters: a test row just
    past the smallest train value of a class falls on the other side. At the connection level of
    the genuine corpus (9 flood windows in train, every test flood window smaller than the
    smallest of them in bytes and packets, and 10x larger than any dos window) hist called 6 of
    the 9 test flood windows dos, exact none. Exact needs the rows in memory and sorts every
    feature at every level, so a split larger than the sample keeps hist and streams.
    """
    return "exact" if int(rows.copies.sum()) >= train_rows else "hist"


def booster_params(params: dict[str, Any], method: str = "hist") -> dict[str, Any]:
    """XGBoost's parameters for one grid candidate (num_boost_round is not one of them)."""
    return {
        "objective": "multi:softprob",
        "num_class": len(LABELS),
        "tree_method": method,
        "eval_metric": "mlogloss",
        "nthread": THREADS,
        "seed": SEED,
        **{k: v for k, v in params.items() if k != "num_boost_round"},
    }


def cross_validate(
    rows: arrays.Rows, params: dict[str, Any], k: int, method: str = "hist"
) -> tuple[float, int]:
    """Mean validation macro F1 over k connection-disjoint folds, and the mean best round count."""
    f1s, rounds = [], []
    for train_idx, val_idx in arrays.group_folds(rows.groups, k):
        fit, val = rows.take(train_idx), rows.take(val_idx)
        dtrain = xgb.DMatrix(fit.x, label=fit.y, weight=fit.w)
        dval = xgb.DMatrix(val.x, label=val.y, weight=val.w)
        booster = xgb.train(
            booster_params(params, method),
            dtrain,
            num_boost_round=int(params["num_boost_round"]),
            evals=[(dval, "validation")],
            early_stopping_rounds=EARLY_STOPPING,
            verbose_eval=False,
        )
        best = booster.best_iteration + 1
        predicted = booster.predict(dval, iteration_range=(0, best)).argmax(axis=1)
        f1s.append(scores(val.y, predicted, val.copies).macro_f1)
        rounds.append(best)
    return float(np.mean(f1s)), int(round(np.mean(rounds)))


class TrainBatches(xgb.DataIter):
    """The train Parquet a batch at a time: the final fit never holds the split in Python."""

    def __init__(self, uri: str, size: int, weighting: str) -> None:
        self._source = (uri, size, weighting)
        self._batches = arrays.batches(*self._source)
        super().__init__()

    def reset(self) -> None:
        self._batches = arrays.batches(*self._source)

    def next(self, input_data) -> bool:
        part = next(self._batches, None)
        if part is None:
            return False
        input_data(data=part.x, label=part.y, weight=part.w)
        return True


def predict(booster, uri: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of every row of a features Parquet, and the rows' labels."""
    probs, labels = [], []
    for batch in arrays.dataset(uri).to_batches(columns=["x", "label"], batch_size=arrays.BATCH_ROWS):
        if batch.num_rows:
            probs.append(booster.predict(xgb.DMatrix(arrays.matrix(batch, size))))
            labels.append(batch.column("label").to_numpy().astype(np.int32))
    if not probs:
        return np.zeros((0, len(LABELS))), np.zeros(0, dtype=np.int32)
    return np.concatenate(probs), np.concatenate(labels)


def rescore(model_uri: str, features_uri: str) -> float:
    """Macro F1 of a logged booster on a Parquet of x and label (e.g. the champion, re-scored)."""
    import mlflow.xgboost

    booster = mlflow.xgboost.load_model(model_uri)
    probs, labels = predict(booster, features_uri, booster.num_features())
    return scores(labels, probs.argmax(axis=1)).macro_f1


def log_and_check(booster, folder: RunFolder, size: int):
    """Log the booster (and the feature pipeline) to the active MLflow run, load it back, and
    insist the loaded one predicts the same."""
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    first = next(arrays.dataset(folder.features("test")).to_batches(columns=["x"], batch_size=5), None)
    example = arrays.matrix(first, size)[:5] if first is not None else np.zeros((1, size), np.float32)
    signature = infer_signature(example, booster.predict(xgb.DMatrix(example)))
    info = mlflow.xgboost.log_model(
        booster, name="model", signature=signature, pip_requirements=tracking.pip_requirements(PACKAGE)
    )
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.log_artifacts(str(local_copy(folder.pipeline, tmp)), tracking.FEATURE_PIPELINE)
    reloaded = mlflow.xgboost.load_model(info.model_uri)
    before, _ = predict(booster, folder.features("test"), size)
    after, _ = predict(reloaded, folder.features("test"), size)
    if not np.allclose(before, after):
        raise RuntimeError("the booster loaded back from MLflow predicts differently from the trained one")
    return reloaded


def write_predictions(booster, name: str, folder: RunFolder, size: int) -> None:
    """label, prediction and unseen of every test row, as the other trainers write them."""
    probs, labels = predict(booster, folder.features("test"), size)
    test = arrays.dataset(folder.features("test")).to_table(columns=["target", "unseen"])
    table = test.append_column("label", pa.array(labels.astype(np.float64))).append_column(
        "prediction", pa.array(probs.argmax(axis=1).astype(np.float64))
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table.select(["target", "label", "prediction", "unseen"]), sink)
    write_bytes(folder.predictions(name) + "/part-00000.parquet", sink.getvalue().to_pybytes())


def train(
    name: str,
    folder: RunFolder,
    size_name: str = "quick",
    grid_file: str | None = None,
    tune_rows: int = 50_000,
    k: int = FOLDS,
    weighting: str = "sqrt",
    *,
    client,
    key: tracking.RunKey,
) -> TrainingRecord:
    """Tune by k-fold CV, fit the winner on all train rows, log it to MLflow, write its predictions."""
    meta = read_json(folder.features_meta)
    size = int(meta["feature_size"])
    with tracking.start_run(client, key, "xgboost", meta, arrays.scaled_input(meta).vector) as run:
        record, booster = _train(name, folder, size_name, grid_file, tune_rows, k, weighting, meta)
        record.mlflow_run_id = run.info.run_id
        tracking.log_training(record.as_dict(), record.candidates, meta)
        reloaded = log_and_check(booster, folder, size)
        write_predictions(reloaded, name, folder, size)
    log.info("%s: logged to MLflow run %s", name, run.info.run_id)
    return record


def _train(name, folder, size_name, grid_file, tune_rows, k, weighting, meta) -> tuple[TrainingRecord, Any]:
    size = int(meta["feature_size"])
    log.info("%s: class weighting %s (row weights to the power %s)", name, weighting, WEIGHTINGS[weighting])
    model_grid = grids.grid(name, size_name, grid_file)
    train_uri = distinct.train_uri(folder)
    rows = arrays.sample(train_uri, size, tune_rows, weighting, np.random.default_rng(SEED))
    method = tree_method(rows, int(meta["train_rows"]))
    clock = Stopwatch()
    results = []
    for params in grids.candidates(model_grid):
        f1, rounds = cross_validate(rows, params, k, method)
        log.info("%s candidate %s: CV macro F1 %.4f (best after ~%d rounds)", name, params, f1, rounds)
        results.append((f1, rounds, params))
    cv_seconds = clock.seconds()
    f1, rounds, params = max(results, key=lambda r: r[0])
    log.info(
        "%s: best %s (CV macro F1 %.4f); %d %s rounds on all train rows", name, params, f1, rounds, method
    )
    clock = Stopwatch()
    if method == "exact":  # the sample is the whole split, already in memory
        matrix = xgb.DMatrix(rows.x, label=rows.y, weight=rows.w)
    else:
        matrix = xgb.QuantileDMatrix(TrainBatches(train_uri, size, weighting))
    booster = xgb.train(booster_params(params, method), matrix, num_boost_round=rounds)
    fit_seconds = clock.seconds()
    record = TrainingRecord(
        model=name,
        kind="xgboost",
        params={**params, "num_boost_round": rounds, "class_weight": weighting, "tree_method": method},
        grid=model_grid,
        cv_metric="macro_f1",
        cv_score=f1,
        cv_folds=k,
        cv_seconds=cv_seconds,
        fit_seconds=fit_seconds,
        tune_rows=int(rows.copies.sum()),
        train_rows=int(meta["train_rows"]),
        candidates=[{"params": p, "score": s, "best_rounds": r} for s, r, p in results],
    )
    return record, booster
