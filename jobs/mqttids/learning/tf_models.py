"""Keras 3 networks (Task III): a deep-narrow and a wide dense network, cross-validated.

Hyperparameters (depth, width, optimizer, learning rate, activation) are chosen
by stratified k-fold cross-validation on a sample of the train features, each
fit stopped early on its fold's validation loss. The winner is then trained on
the whole train split *streamed* from Parquet through ``tf.data`` (never
collected in memory), for the number of epochs early stopping found best.

Class imbalance: MQTTset's flood class is 0.2% of the rows. Each row's loss
is weighted by its ``weight`` column to the power the weighting names (the
square root of the balanced class weight by default), exactly as the Spark
models weigh it (see :data:`mqttids.learning.tuning.WEIGHTINGS` for why).
Folds keep each connection on one side (:mod:`mqttids.learning.folds`).

The model is logged to the trainer's MLflow run in the Keras flavor (with the
fitted feature pipeline beside it, as the run's ``feature_pipeline``
artifact), loaded back from MLflow, and must give the same predictions as the
model in memory before its test predictions are written.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mqttids.learning import arrays, grids, tracking
from mqttids.learning.artifacts import RunFolder, local_copy, local_path, read_json, write_bytes
from mqttids.learning.metrics import scores
from mqttids.learning.tuning import FOLDS, WEIGHTINGS, Stopwatch, TrainingRecord
from mqttids.runtime import config
from mqttids.schema import LABELS

log = logging.getLogger(__name__)

MODELS = grids.KERAS_MODELS
SEED = 7
BATCH = 256
MAX_EPOCHS = 30  # the most epochs of a CV fit, and patience its early stopping's: on a large
PATIENCE = 3  # sample; a fit on few rows gets MQTTIDS_NN_MIN_STEPS instead (epoch_limits)
MAX_BUDGET_EPOCHS = 400  # the step budget's ceiling (epoch_limits)
MIN_FULL_EPOCHS = 3

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _keras():
    import keras

    return keras


def _dataset(uri: str) -> ds.Dataset:
    return ds.dataset(local_path(uri), format="parquet")


def stream(uri: str, size: int, x: str = "x") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, label) batches of a features Parquet's array column ``x``, a batch at a time."""
    for batch in _dataset(uri).to_batches(columns=[x, "label"], batch_size=BATCH * 16):
        if batch.num_rows:
            yield arrays.matrix(batch, size, x), batch.column("label").to_numpy().astype(np.int32)


def tf_dataset(uri: str, size: int, weighting: str, x: str = "x"):
    """A tf.data pipeline of (x, label, loss weight) over the Parquet batches: re-read every epoch."""
    import tensorflow as tf

    def batches():
        for part in arrays.batches(uri, size, weighting, x=x):
            for start in range(0, len(part.y), BATCH):
                end = start + BATCH
                yield part.x[start:end], part.y[start:end], part.w[start:end]

    spec = (
        tf.TensorSpec((None, size), tf.float32),
        tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((None,), tf.float32),
    )
    return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(tf.data.AUTOTUNE)


def build(size: int, depth: int, width: int, activation: str, optimizer: str, learning_rate: float):
    """A dense network: ``depth`` hidden layers of ``width`` units, softmax over the classes."""
    keras = _keras()
    layers = [keras.Input(shape=(size,))]
    layers += [keras.layers.Dense(width, activation=activation) for _ in range(depth)]
    layers.append(keras.layers.Dense(len(LABELS), activation="softmax"))
    model = keras.Sequential(layers)
    opt = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    model.compile(
        optimizer=opt[optimizer](learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def epoch_limits(rows: int, min_steps: int) -> tuple[int, int]:
    """(most epochs, patience) of a CV fit on ``rows`` rows: MAX_EPOCHS and PATIENCE, or more
    where an epoch has so few batches that they would be under ``min_steps`` gradient steps
    (and a tenth of them). MQTTIDS_NN_MIN_STEPS's 4,000 are 30 epochs of a 50,000-row sample's
    folds, so only small splits get more.

    Counted in epochs alone, a small split starves the networks: on the genuine corpus's 4,241
    train packets (17 batches an epoch) every fit hit 30 epochs still improving, and the test
    macro F1 rose from 0.466 at 30 epochs to 0.505 at 200 and 0.534 at 400 (dnn_narrow).

    The budget stops at MAX_BUDGET_EPOCHS (patience a tenth of it): a few hundred rows are one
    batch, and 4,000 one-step epochs are mostly Keras's per-epoch overhead. On the corpus's
    connection level (218 rows a fold) one candidate's 3-fold CV took 1,606 s uncapped (best
    epoch about 3,999) and 78 s capped, CV macro F1 1.000 both ways (docs/learning.md).
    """
    steps = max(1, math.ceil(rows / BATCH))
    most = min(max(MAX_EPOCHS, min_steps // steps), MAX_BUDGET_EPOCHS)
    patience = min(max(PATIENCE, min_steps // 10 // steps), MAX_BUDGET_EPOCHS // 10)
    return most, patience


def cross_validate(
    rows: arrays.Rows, size: int, params: dict[str, Any], k: int, min_steps: int = 0
) -> tuple[float, int]:
    """Mean validation macro F1 over k connection-disjoint folds, and the mean best epoch count."""
    keras = _keras()
    f1s, epochs = [], []
    for train_idx, val_idx in arrays.group_folds(rows.groups, k):
        fit, val = rows.take(train_idx), rows.take(val_idx)
        model = build(size, **params)
        most, patience = epoch_limits(len(fit.y), min_steps)
        stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
        history = model.fit(
            fit.x,
            fit.y,
            sample_weight=fit.w,
            validation_data=(val.x, val.y, val.w),
            epochs=most,
            batch_size=BATCH,
            callbacks=[stop],
            verbose=0,
        )
        best_epoch = int(np.argmin(history.history["val_loss"])) + 1
        predicted = model.predict(val.x, batch_size=4096, verbose=0).argmax(axis=1)
        f1s.append(scores(val.y, predicted).macro_f1)
        epochs.append(best_epoch)
    return float(np.mean(f1s)), int(round(np.mean(epochs)))


def full_epochs(cv_epochs: int, tune_rows: int, train_rows: int) -> int:
    """Epochs for the final fit: about as many gradient steps as the best CV fits took.

    An epoch over the whole split has train_rows / tune_rows times the steps of an epoch
    over the tuning sample, so repeating the CV's epoch count would multiply the work (and,
    at 14M rows, take hours) for no gain; at least MIN_FULL_EPOCHS passes are made.
    """
    steps_equivalent = math.ceil(cv_epochs * tune_rows / max(train_rows, 1))
    return max(MIN_FULL_EPOCHS, min(cv_epochs, steps_equivalent))


def predict(model, uri: str, size: int, x: str = "x") -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of every row of a features Parquet (its array column ``x``), and labels."""
    probs, labels = [], []
    for inputs, y in stream(uri, size, x):
        probs.append(model.predict_on_batch(inputs))
        labels.append(y)
    return np.concatenate(probs), np.concatenate(labels)


def log_and_check(model, folder: RunFolder, reads: arrays.Input):
    """Log the model (and the feature pipeline) to the active MLflow run, load it back from
    MLflow, and insist the loaded model predicts the same as the one in memory."""
    import mlflow
    import mlflow.keras
    from mlflow.models import infer_signature

    example = next(stream(folder.features("test"), reads.size, reads.column))[0][:5]
    # A signature, not an input example: mlflow 3.17's Keras flavor writes the example before
    # it creates the model folder, and fails.
    signature = infer_signature(example, model.predict(example, verbose=0))
    info = mlflow.keras.log_model(
        model,
        name="model",
        signature=signature,
        pip_requirements=tracking.pip_requirements("tensorflow", "keras"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.log_artifacts(str(local_copy(folder.pipeline, tmp)), tracking.FEATURE_PIPELINE)
    reloaded = mlflow.keras.load_model(info.model_uri)
    before, _ = predict(model, folder.features("test"), reads.size, reads.column)
    after, _ = predict(reloaded, folder.features("test"), reads.size, reads.column)
    if not np.array_equal(before.argmax(axis=1), after.argmax(axis=1)) or not np.allclose(before, after):
        raise RuntimeError("the model loaded back from MLflow predicts differently from the trained one")
    log.info("logged to MLflow and loaded back: identical predictions on %s test rows", f"{len(before):,}")
    return reloaded


def rescore(model_uri: str, features_uri: str) -> float:
    """Macro F1 of a logged Keras model on a Parquet of x and label (e.g. the champion, re-scored)."""
    import mlflow.keras

    model = mlflow.keras.load_model(model_uri)
    size = int(model.inputs[0].shape[-1])
    probs, labels = predict(model, features_uri, size)
    return scores(labels, probs.argmax(axis=1)).macro_f1


def write_predictions(model, name: str, folder: RunFolder, reads: arrays.Input) -> None:
    """label, prediction and unseen of every test row, as the Spark trainers write them."""
    probs, labels = predict(model, folder.features("test"), reads.size, reads.column)
    test = _dataset(folder.features("test")).to_table(columns=["target", "unseen"])
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
    """Tune ``name`` by k-fold CV, train the winner on all train rows, log it to MLflow, predict."""
    meta = read_json(folder.features_meta)
    reads = arrays.network_input(meta)
    with tracking.start_run(client, key, "keras", meta, reads.vector) as run:
        record, model = _train(name, folder, size_name, grid_file, tune_rows, k, weighting, meta, reads)
        record.mlflow_run_id = run.info.run_id
        tracking.log_training(record.as_dict(), record.candidates, meta)
        reloaded = log_and_check(model, folder, reads)
        write_predictions(reloaded, name, folder, reads)
    log.info("%s: logged to MLflow run %s", name, run.info.run_id)
    return record


def _limit_inter_op_threads(threads: int) -> None:
    """Run at most ``threads`` TensorFlow ops at once, so the networks share the cores with Spark.

    TensorFlow fixes this when its runtime starts; a process that already ran TensorFlow (a test
    session, a notebook) keeps its setting, which only costs speed, so that is logged, not raised.
    """
    import tensorflow as tf

    if tf.config.threading.get_inter_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as started:
        log.info("TensorFlow already started; keeping its inter-op threads (%s)", started)


def _train(
    name, folder, size_name, grid_file, tune_rows, k, weighting, meta, reads: arrays.Input
) -> tuple[TrainingRecord, Any]:
    """Cross-validate the grid, then fit the winner on the whole train split, streamed."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    _limit_inter_op_threads(2)
    rng = np.random.default_rng(SEED)
    size = reads.size
    log.info(
        "%s: reads %s (%d values); class weighting %s (row weights to the power %s)",
        name,
        reads.vector,
        size,
        weighting,
        WEIGHTINGS[weighting],
    )
    model_grid = grids.grid(name, size_name, grid_file)
    min_steps = int(config.NN_MIN_STEPS.get())
    rows = arrays.sample(folder.features("train"), size, tune_rows, weighting, rng, reads.column)
    y = rows.y
    clock = Stopwatch()
    results = []
    for params in grids.candidates(model_grid):
        f1, epochs = cross_validate(rows, size, params, k, min_steps)
        log.info("%s candidate %s: CV macro F1 %.4f (best epoch ~%d)", name, params, f1, epochs)
        results.append((f1, epochs, params))
    candidates = [{"params": p, "score": f, "best_epoch": e} for f, e, p in results]
    cv_seconds = clock.seconds()
    f1, cv_epochs, params = max(results, key=lambda r: r[0])
    epochs = full_epochs(cv_epochs, len(y), int(meta["train_rows"]))
    log.info(
        "%s: best %s (CV macro F1 %.4f, best after ~%d epochs on %s rows); training %d epochs on all "
        "%s train rows, streamed",
        name,
        params,
        f1,
        cv_epochs,
        f"{len(y):,}",
        epochs,
        f"{int(meta['train_rows']):,}",
    )
    clock = Stopwatch()
    model = build(size, **params)
    model.fit(tf_dataset(folder.features("train"), size, weighting, reads.column), epochs=epochs, verbose=2)
    fit_seconds = clock.seconds()
    record = TrainingRecord(
        model=name,
        kind="keras",
        params={
            **params,
            "epochs": epochs,
            "batch_size": BATCH,
            "class_weight": weighting,
            "min_steps": min_steps,
            "input": reads.vector,
        },
        grid=model_grid,
        cv_metric="macro_f1",
        cv_score=f1,
        cv_folds=k,
        cv_seconds=cv_seconds,
        fit_seconds=fit_seconds,
        tune_rows=len(y),
        train_rows=int(meta["train_rows"]),
        candidates=candidates,
    )
    return record, model
