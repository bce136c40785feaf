"""MLflow tracking and registry: where every trained model, its scores and figures are kept.

One MLflow experiment per DAG (named after its ``dag_id``; ``manual`` for jobs
run by hand), one MLflow run per (learning run, model), tagged with the
Airflow ``dag_id`` and ``run_id``, the batch range, the feature level and the
code version. The trainers log params, the CV grid and scores, fit times and
the model in its flavor; the evaluator logs the test metrics and the
confusion matrix to the same run and registers the model as a new version of
``MQTTIDS_MLFLOW_MODEL`` (``mqtt_ids_packet``). Versions are immutable: a
rerun logs a new run and registers a new version, and the ``@champion`` alias
moves only by the champion rule (:mod:`mqttids.learning.champion`).

The server comes from ``MLFLOW_TRACKING_URI``, else the embedded one
(:mod:`mqttids.runtime.tracking_server`, shared with detection): ``connect``
checks it answers before anything is trained, so a trainer fails at once.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mqttids.runtime import code_version as code_version_of
from mqttids.runtime import config

# Re-exported: the trainers, the evaluator and make run use them through this module.
from mqttids.runtime.tracking_server import TrackingUnavailable, check, connect, tracking_uri  # noqa: F401

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
FEATURE_LEVEL = "packet"
MANUAL_DAG = "manual"  # the experiment of jobs run outside Airflow
# Tags every run gets; the evaluator and the run report find runs by them.
TAG_DAG = "airflow.dag_id"
TAG_RUN = "airflow.run_id"
TAG_MODEL = "mqttids.model"
TAG_KIND = "mqttids.kind"
TAG_LEVEL = "mqttids.feature_level"
# A Keras or XGBoost model's input vector of the feature pipeline (features_scaled or
# features_binned), so scoring rebuilds the vector it was trained on; Spark models carry theirs.
TAG_INPUT = "mqttids.input"
TAG_CODE = "mqttids.code_version"
TAG_BATCH_FROM = "mqttids.batch_from"
TAG_BATCH_TO = "mqttids.batch_to"
# Tags of a registered version: what the champion rule compares.
TAG_F1 = "test_macro_f1"
TAG_FINGERPRINT = "test_fingerprint"
FEATURE_PIPELINE = "feature_pipeline"  # run artifact: the fitted feature pipeline (Spark ML)


def tracking_uri_hint() -> str:
    """The server the client talks to, for messages (without starting the embedded one)."""
    import mlflow

    return mlflow.get_tracking_uri()


def code_version() -> str:
    """The Dataproc package's version of this code (:mod:`mqttids.runtime.code_version`), or
    MQTTIDS_CODE_VERSION where the code runs from the zip and has no files to hash."""
    if config.CODE_VERSION.get():
        return config.CODE_VERSION.get()
    if not code_version_of.library_files():  # running from a zip
        return "unknown"
    return code_version_of.code_version()


def experiment_id(client, dag_id: str) -> str:
    """The experiment of ``dag_id``, created once (two trainers may race to create it)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(dag_id)
    if found:
        return found.experiment_id
    try:
        return client.create_experiment(dag_id, tags={TAG_DAG: dag_id})
    except MlflowException:
        return client.get_experiment_by_name(dag_id).experiment_id


@dataclass(frozen=True)
class RunKey:
    """Which learning run and model an MLflow run belongs to."""

    dag_id: str
    run_id: str
    model: str
    level: str = FEATURE_LEVEL

    def filter(self) -> str:
        return (
            f"tags.`{TAG_RUN}` = '{_quote(self.run_id)}' AND tags.`{TAG_MODEL}` = '{_quote(self.model)}' "
            f"AND tags.`{TAG_LEVEL}` = '{_quote(self.level)}'"
        )


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def start_run(client, key: RunKey, kind: str, meta: dict[str, Any], reads: str | None = None):
    """A new MLflow run for ``key`` (``reads``: the input vector of a model that is not a Spark
    pipeline); a run an earlier, crashed attempt left RUNNING is marked FAILED."""
    import mlflow

    experiment = experiment_id(client, key.dag_id)
    for stale in client.search_runs([experiment], f"{key.filter()} AND attributes.status = 'RUNNING'"):
        log.warning(
            "MLflow run %s of an earlier attempt never finished: marking it FAILED", stale.info.run_id
        )
        client.set_terminated(stale.info.run_id, "FAILED")
    tags = {
        TAG_DAG: key.dag_id,
        TAG_RUN: key.run_id,
        TAG_MODEL: key.model,
        TAG_KIND: kind,
        TAG_LEVEL: key.level,
        TAG_CODE: code_version(),
        TAG_BATCH_FROM: meta.get("batch_from") or "",
        TAG_BATCH_TO: meta.get("batch_to") or "",
        **({TAG_INPUT: reads} if reads else {}),
    }
    name = key.model if key.level == FEATURE_LEVEL else f"{key.model} {key.level}"
    return mlflow.start_run(experiment_id=experiment, run_name=f"{name} {key.run_id}", tags=tags)


def finished_run(client, key: RunKey):
    """The newest FINISHED MLflow run of ``key``, or None when the model was not trained."""
    experiment = client.get_experiment_by_name(key.dag_id)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        f"{key.filter()} AND attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def log_training(record: dict[str, Any], cv_results: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """Params, the CV grid and every candidate's score, times, and the feature decisions."""
    import mlflow

    mlflow.log_params(
        {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record["params"].items()}
    )
    mlflow.log_params({"cv_folds": record["cv_folds"], "cv_metric": record["cv_metric"]})
    mlflow.log_metrics(
        {
            "cv_macro_f1": record["cv_score"],
            "cv_seconds": record["cv_seconds"],
            "fit_seconds": record["fit_seconds"],
            "tune_rows": record["tune_rows"],
            "train_rows": record["train_rows"],
        }
    )
    for step, candidate in enumerate(cv_results):
        mlflow.log_metric("cv_candidate_macro_f1", candidate["score"], step=step)
    mlflow.log_dict({"grid": record["grid"], "candidates": cv_results}, "cv/grid.json")
    mlflow.log_dict(
        {"columns": meta["columns"], "feature_size": meta["feature_size"]}, "features/columns.json"
    )
    mlflow.log_dict(
        {
            k: meta[k]
            for k in ("class_weights", "class_counts", "train_rows", "test_rows", "test_fingerprint")
        },
        "features/summary.json",
    )


def pip_requirements(*packages: str) -> list[str]:
    """Exact pins of the installed packages a model needs (MLflow's inference would import it again)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in packages]


def log_test_scores(mlflow_run_id: str, by_subset: dict, png: bytes, title: str) -> None:
    """Accuracy, F1s and per-class figures of every subset, and the confusion matrix as PNG and JSON."""
    import mlflow

    from mqttids.schema import LABELS

    metrics: dict[str, float] = {}
    for subset, s in by_subset.items():
        metrics |= {
            f"{subset}_accuracy": s.accuracy,
            f"{subset}_macro_f1": s.macro_f1,
            f"{subset}_weighted_f1": s.weighted_f1,
            f"{subset}_rows": float(s.rows),
        }
        for c in s.per_class():
            metrics |= {f"{subset}_{m}_{c['label']}": float(c[m]) for m in ("precision", "recall", "f1")}
    with mlflow.start_run(run_id=mlflow_run_id):
        mlflow.log_metrics(metrics)
        for subset, s in by_subset.items():
            mlflow.log_dict(
                {"labels": list(LABELS), "rows_actual_columns_predicted": s.matrix.tolist()},
                f"confusion/{subset}.json",
            )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "confusion_test.png"
            path.write_bytes(png)
            mlflow.log_artifact(str(path), "confusion")
        mlflow.set_tag("mlflow.note.content", title)


def register(client, run, name: str, macro_f1: float, fingerprint: str):
    """The run's model as a version of ``name``: the existing one if this run was registered before."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            name, description="MQTTset intrusion classifiers; @champion is served."
        )
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    existing = client.search_model_versions(f"name = '{_quote(name)}' AND run_id = '{run.info.run_id}'")
    if existing:
        version = existing[0]
        log.info("%s: already registered as %s version %s", run.data.tags[TAG_MODEL], name, version.version)
    else:
        version = mlflow.register_model(
            f"runs:/{run.info.run_id}/model", name, tags={TAG_RUN: run.data.tags[TAG_RUN]}
        )
    for key, value in {
        TAG_F1: repr(float(macro_f1)),
        TAG_FINGERPRINT: fingerprint,
        TAG_MODEL: run.data.tags[TAG_MODEL],
        TAG_KIND: run.data.tags[TAG_KIND],
        TAG_RUN: run.data.tags[TAG_RUN],
        TAG_LEVEL: run.data.tags.get(TAG_LEVEL, FEATURE_LEVEL),
        **({TAG_INPUT: run.data.tags[TAG_INPUT]} if TAG_INPUT in run.data.tags else {}),
    }.items():
        client.set_model_version_tag(name, version.version, key, value)
    return client.get_model_version(name, version.version)


def registered_name(level: str, packet_name: str | None = None) -> str:
    """The registered model of a feature level: MQTTIDS_MLFLOW_MODEL (``mqtt_ids_packet``) for
    packets, the same name with the level instead of ``packet`` for the others
    (``mqtt_ids_packet_context``, ``mqtt_ids_connection``)."""
    packet_name = packet_name or config.MLFLOW_MODEL.get()
    if level == FEATURE_LEVEL:
        return packet_name
    stem = packet_name.removesuffix(f"_{FEATURE_LEVEL}")
    return f"{stem}_{level}"


def champion_uri(name: str) -> str:
    return f"models:/{name}@{CHAMPION_ALIAS}"


def champion_version(client, name: str):
    """The version the ``@champion`` alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def run_url(uri: str, experiment: str, mlflow_run_id: str) -> str:
    return f"{uri.rstrip('/')}/#/experiments/{experiment}/runs/{mlflow_run_id}"


def mlflow_run_urls(dag_id: str, run_id: str, uri: str | None = None) -> list[tuple[str, str]]:
    """(model, MLflow UI URL) of every MLflow run of one DAG run, newest first; [] if none.

    For the run report: it links each model of an Airflow run to its MLflow run page.
    A server that does not answer gives [] rather than breaking the page.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = uri or config.MLFLOW_TRACKING_URI.get()
    if not uri:
        from mqttids.runtime import embedded_mlflow

        uri = embedded_mlflow.running_uri() or ""
    if not uri:
        return []
    from mqttids.runtime import embedded_mlflow

    if uri.startswith("http") and not embedded_mlflow.healthy(uri):
        return []
    client = MlflowClient(uri)
    try:
        experiment = client.get_experiment_by_name(dag_id)
        if experiment is None:
            return []
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.`{TAG_RUN}` = '{_quote(run_id)}'",
            order_by=["attributes.start_time DESC"],
        )
    except MlflowException:
        return []
    return [
        (_label(r.data.tags, r.info.run_name), run_url(uri, experiment.experiment_id, r.info.run_id))
        for r in runs
    ]


def _label(tags: dict[str, str], run_name: str) -> str:
    """A run's model as links name it: packet-level models by their bare name, others with the level."""
    model, level = tags.get(TAG_MODEL, run_name), tags.get(TAG_LEVEL, FEATURE_LEVEL)
    return model if level == FEATURE_LEVEL else f"{model} ({level})"


def registry_url(uri: str, name: str) -> str:
    return f"{uri.rstrip('/')}/#/models/{quote(name)}"
