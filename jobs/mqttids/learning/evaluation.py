"""Evaluate a learning run: score every model, register it, and challenge the champion.

Scores come from the predictions each trainer wrote (label, prediction and the
``unseen`` flag of every test row), so Spark and Keras models are scored by the
same code. Each model gets its rows in the registry and a confusion-matrix PNG
in the run folder; then the run's best model challenges the champion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import pyarrow.dataset as ds

from mqttids.learning import champion, registry
from mqttids.learning.artifacts import RunFolder, exists, local_path, read_json, write_bytes
from mqttids.learning.metrics import Scores, confusion_png, scores, spark_confusion
from mqttids.runtime import db
from mqttids.warehouse.batches import BatchRange

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelResult:
    model: str
    test: Scores
    unseen: Scores


def score_predictions(uri: str) -> tuple[Scores, Scores]:
    """Scores on every test row, and on the rows unseen in train."""
    table = ds.dataset(local_path(uri), format="parquet").to_table(columns=["label", "prediction", "unseen"])
    label = table.column("label").to_numpy()
    prediction = table.column("prediction").to_numpy()
    unseen = table.column("unseen").to_numpy(zero_copy_only=False).astype(bool)
    return scores(label, prediction), scores(label[unseen], prediction[unseen])


def trained_models(folder: RunFolder, requested: list[str]) -> list[str]:
    """The requested models whose trainer finished (left its models/<name>.json)."""
    found = [m for m in requested if exists(folder.model_meta(m))]
    for m in sorted(set(requested) - set(found)):
        log.warning("%s: not trained in this run (no %s); skipped", m, folder.model_meta(m))
    if not found:
        raise FileNotFoundError(f"no trained model in {folder.root}: did the trainers run?")
    return found


def evaluate_model(folder: RunFolder, meta: dict, name: str) -> tuple[dict, ModelResult]:
    """The model's registry row and scores; its confusion-matrix PNG is written on the way."""
    record = read_json(folder.model_meta(name))
    test, unseen = score_predictions(folder.predictions(name))
    plot = folder.plot(f"confusion_{name}")
    title = f"{name}: accuracy {test.accuracy:.3f}, macro F1 {test.macro_f1:.3f}"
    write_bytes(plot, confusion_png(test.matrix, title))
    run_row = {
        "run_id": meta["run_id"],
        "model": name,
        "kind": record["kind"],
        "params": record["params"],
        "grid": record["grid"],
        "cv_metric": record["cv_metric"],
        "cv_score": record["cv_score"],
        "cv_folds": record["cv_folds"],
        "cv_seconds": record["cv_seconds"],
        "fit_seconds": record["fit_seconds"],
        "tune_rows": record["tune_rows"],
        "train_rows": record["train_rows"],
        "test_rows": test.rows,
        "artifact_uri": record["artifact_uri"],
        "features_uri": meta["pipeline_uri"],
        "batch_from": meta["batch_from"],
        "batch_to": meta["batch_to"],
        "test_fingerprint": meta["test_fingerprint"],
        "plot_uri": plot,
    }
    recall = ", ".join(f"{c['label']} {c['recall']:.2f}" for c in test.per_class())
    log.info(
        "%s: accuracy %.4f, macro F1 %.4f, unseen-rows macro F1 %.4f; recall: %s",
        name,
        test.accuracy,
        test.macro_f1,
        unseen.macro_f1,
        recall,
    )
    return run_row, ModelResult(name, test, unseen)


def _batches(meta: dict) -> BatchRange:
    first, last = meta["batch_from"], meta["batch_to"]
    return BatchRange(first and date.fromisoformat(first), last and date.fromisoformat(last))


def rescore_champion(url: str, meta: dict, folder: RunFolder, holder: champion.Contender) -> float:
    """The champion's macro F1 on this run's test rows: its own pipeline and model, re-applied."""
    from mqttids.learning import features, spark_models, tf_models
    from mqttids.runtime.spark import session

    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT kind, artifact_uri, features_uri FROM {registry.MODEL_RUNS} "
                "WHERE run_id = %s AND model = %s",
                (holder.run_id, holder.model),
            )
            kind, artifact, pipeline_uri = cur.fetchone()
    finally:
        conn.close()
    spark = session("mqttids-rescore", jdbc=True)
    packets = features.read_packets(spark, url, _batches(meta))
    test = features.scoring_frame(features.load_pipeline(pipeline_uri), packets.where("split = 'test'"))
    if kind == "spark":
        return Scores(spark_confusion(spark_models.load(holder.model, artifact).transform(test))).macro_f1
    staged = folder.path("rescore", f"{holder.run_id}_{holder.model}.parquet".replace("/", "_"))
    test.select("x", "label").write.mode("overwrite").parquet(staged)
    return tf_models.rescore(artifact, staged)


def evaluate(
    url: str, run_id: str, folder: RunFolder, models: list[str]
) -> tuple[list[ModelResult], champion.Decision]:
    """Score and register the run's models, then let its best one challenge the champion."""
    meta = read_json(folder.features_meta)
    conn = db.connect(url, application="mqttids-evaluate")
    try:
        results = []
        registry.register_columns(conn, run_id, meta["columns"])
        for name in trained_models(folder, models):
            run_row, result = evaluate_model(folder, meta, name)
            registry.register_model(conn, run_row, {"test": result.test, "unseen": result.unseen})
            results.append(result)
        conn.commit()
        best = max(results, key=lambda r: r.test.macro_f1)
        challenger = champion.Contender(run_id, best.model, best.test.macro_f1, meta["test_fingerprint"])
        decision = champion.challenge(conn, challenger, lambda c: rescore_champion(url, meta, folder, c))
    finally:
        conn.close()
    return results, decision
