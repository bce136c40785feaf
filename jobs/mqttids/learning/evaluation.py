"""Evaluate a learning run: score every model, log and register it, and challenge the champion.

Scores come from the predictions each trainer wrote (label, prediction and the
``unseen`` flag of every test row), so Spark and Keras models are scored by the
same code. Each model's scores and confusion matrix (figure and JSON) go to
its MLflow run, the model becomes a new version of the registered model, and
the same numbers go to the warehouse tables in the same step; then the run's
best version challenges the ``@champion`` alias.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import date

import pyarrow.dataset as ds

from mqttids.learning import champion, registry, tracking
from mqttids.learning.artifacts import RunFolder, local_path, read_json
from mqttids.learning.metrics import Scores, confusion_png, scores, spark_confusion
from mqttids.runtime import config, db
from mqttids.warehouse.batches import BatchRange

log = logging.getLogger(__name__)

ARRAY_KINDS = ("keras", "xgboost")  # models logged without the feature pipeline inside: it is beside them


@dataclass(frozen=True)
class ModelResult:
    model: str
    test: Scores
    unseen: Scores
    version: str = ""
    mlflow_run_id: str = ""


def score_predictions(uri: str) -> tuple[Scores, Scores]:
    """Scores on every test row, and on the rows unseen in train."""
    table = ds.dataset(local_path(uri), format="parquet").to_table(columns=["label", "prediction", "unseen"])
    label = table.column("label").to_numpy()
    prediction = table.column("prediction").to_numpy()
    unseen = table.column("unseen").to_numpy(zero_copy_only=False).astype(bool)
    return scores(label, prediction), scores(label[unseen], prediction[unseen])


def trained_runs(client, dag_id: str, run_id: str, requested: list[str], level: str = "packet") -> dict:
    """{model: its newest finished MLflow run} of the requested models that were trained."""
    found = {}
    for model in requested:
        run = tracking.finished_run(client, tracking.RunKey(dag_id, run_id, model, level))
        if run is None:
            log.warning(
                "%s: not trained at level %s in this run (no finished MLflow run); skipped", model, level
            )
        else:
            found[model] = run
    if not found:
        raise FileNotFoundError(
            f"no model trained at level {level} for run {run_id} in MLflow experiment {dag_id}: "
            "did the trainers run?"
        )
    return found


def evaluate_model(
    client, folder: RunFolder, meta: dict, name: str, run, registered: str, level: str = "packet"
) -> tuple[dict, ModelResult]:
    """Score, log to the model's MLflow run, register a version; return its warehouse row and scores."""
    test, unseen = score_predictions(folder.predictions(name))
    title = f"{name}: accuracy {test.accuracy:.3f}, macro F1 {test.macro_f1:.3f}"
    tracking.log_test_scores(
        run.info.run_id, {"test": test, "unseen": unseen}, confusion_png(test.matrix, title), title
    )
    version = tracking.register(client, run, registered, test.macro_f1, meta["test_fingerprint"])
    row = {
        "run_id": meta["run_id"],
        "level": level,
        "model": name,
        "kind": run.data.tags[tracking.TAG_KIND],
        "mlflow_run_id": run.info.run_id,
        "registered_model": registered,
        "model_version": str(version.version),
        "test_rows": test.rows,
        "batch_from": meta["batch_from"],
        "batch_to": meta["batch_to"],
        "test_fingerprint": meta["test_fingerprint"],
    }
    recall = ", ".join(f"{c['label']} {c['recall']:.2f}" for c in test.per_class())
    log.info(
        "%s (%s): accuracy %.4f, macro F1 %.4f, unseen-rows macro F1 %.4f; recall: %s; %s version %s",
        name,
        level,
        test.accuracy,
        test.macro_f1,
        unseen.macro_f1,
        recall,
        registered,
        version.version,
    )
    return row, ModelResult(name, test, unseen, str(version.version), run.info.run_id)


def _batches(meta: dict) -> BatchRange:
    first, last = meta["batch_from"], meta["batch_to"]
    return BatchRange(first and date.fromisoformat(first), last and date.fromisoformat(last))


def check_files(client, name: str, holder: champion.Contender) -> None:
    """Raise ChampionFilesMissing when the champion version's model (or feature pipeline) is gone."""
    from mlflow.artifacts import list_artifacts

    version = client.get_model_version(name, holder.version)
    location = client.get_model_version_download_uri(name, holder.version)
    if not list_artifacts(artifact_uri=location):
        raise champion.ChampionFilesMissing(f"no files at {location}")
    if holder.kind in ARRAY_KINDS and not client.list_artifacts(version.run_id, tracking.FEATURE_PIPELINE):
        raise champion.ChampionFilesMissing(f"run {version.run_id} has no {tracking.FEATURE_PIPELINE}")


def rescore_champion(
    url: str,
    meta: dict,
    folder: RunFolder,
    client,
    name: str,
    holder: champion.Contender,
    level: str = "packet",
) -> float:
    """The champion's macro F1 on this run's test rows (made into the level's rows from the
    packets, as the features step does), loaded through ``models:/<name>@champion``."""
    import mlflow
    import mlflow.spark
    from pyspark.ml import PipelineModel

    from mqttids.learning import arrays, features, levels, tf_models, xgb_models
    from mqttids.runtime.spark import session

    check_files(client, name, holder)
    uri = tracking.champion_uri(name)
    spark = session("mqttids-rescore", jdbc=True)
    packets = levels.rows(level, features.read_packets(spark, url, _batches(meta))).where("split = 'test'")
    labelled = packets.withColumn("label", features.label_column())
    if holder.kind == "spark":  # the logged model is the feature pipeline and the classifier
        return Scores(spark_confusion(mlflow.spark.load_model(uri).transform(labelled))).macro_f1
    version = client.get_model_version(name, holder.version)
    reads = version.tags.get(tracking.TAG_INPUT, arrays.SCALED_VECTOR)  # untagged: older versions
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=tracking.FEATURE_PIPELINE, dst_path=tmp
        )
        test = features.scoring_frame(PipelineModel.load(pipeline), packets, reads)
        staged = folder.rescore(name, holder.version)
        test.write.mode("overwrite").parquet(staged)
    if holder.kind == "xgboost":
        return xgb_models.rescore(uri, staged)
    return tf_models.rescore(uri, staged)


def evaluate(
    url: str,
    run_id: str,
    folder: RunFolder,
    models: list[str],
    *,
    client,
    dag_id: str = tracking.MANUAL_DAG,
    registered: str | None = None,
    level: str = "packet",
) -> tuple[list[ModelResult], champion.Decision]:
    """Score, log, register and store the run's models of one feature level (``folder`` is the
    level's folder), then let its best one challenge that level's champion.

    ``registered`` names the packet-level registered model (MQTTIDS_MLFLOW_MODEL); the other
    levels' are named after it (:func:`mqttids.learning.tracking.registered_name`).
    """
    registered = tracking.registered_name(level, registered or config.MLFLOW_MODEL.get())
    meta = read_json(folder.features_meta)
    runs = trained_runs(client, dag_id, run_id, models, level)
    conn = db.connect(url, application="mqttids-evaluate")
    try:
        results = []
        registry.register_columns(conn, run_id, meta["columns"], level)
        for name, run in runs.items():
            row, result = evaluate_model(client, folder, meta, name, run, registered, level)
            registry.register_model(conn, row, {"test": result.test, "unseen": result.unseen})
            results.append(result)
        conn.commit()
        best = max(results, key=lambda r: r.test.macro_f1)
        challenger = champion.Contender(
            run_id,
            best.model,
            best.test.macro_f1,
            meta["test_fingerprint"],
            best.version,
            runs[best.model].data.tags[tracking.TAG_KIND],
            level,
        )
        decision = champion.challenge(
            conn,
            client,
            registered,
            challenger,
            lambda c: rescore_champion(url, meta, folder, client, registered, c, level),
        )
    finally:
        conn.close()
    return results, decision
