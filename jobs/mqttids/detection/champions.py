"""The champion of each feature level, fetched from the MLflow registry once per scoring run.

Each level has its registered model ``mqtt_ids_<level>`` and its ``@champion`` alias (the
packet level's name is ``MQTTIDS_MLFLOW_MODEL``). Scoring pins the version the alias points at
when it starts, so a champion promoted mid-run never mixes two models in one capture's rows.
A Spark champion is one PipelineModel (the fitted feature stages, then the classifier); a Keras
or XGBoost champion is the model plus its run's ``feature_pipeline`` artifact. Either way the features are
made by the champion's own fitted pipeline, never refitted on the traffic being scored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mqttids.runtime import config

log = logging.getLogger(__name__)

ALIAS = "champion"
TAG_KIND = "mqttids.kind"  # the learning stage's version tags: "spark", "keras" or "xgboost"
TAG_INPUT = "mqttids.input"  # and a Keras or XGBoost model's input vector of the pipeline
SCALED_VECTOR = "features_scaled"  # the input of versions tagged before there was a choice
FEATURE_PIPELINE = "feature_pipeline"  # run artifact: the fitted feature pipeline
SPARK_MODEL_DIR = "sparkml"  # where MLflow's Spark flavour keeps the PipelineModel


class NoChampion(RuntimeError):
    """No level has a champion yet: train one (mqtt_pipeline) before scoring."""


def registered_name(level: str) -> str:
    """MQTTIDS_MLFLOW_MODEL (``mqtt_ids_packet``) for packets, the same name with the level
    instead of ``packet`` for the others (the learning stage's rule)."""
    packet = config.MLFLOW_MODEL.get()
    return packet if level == "packet" else f"{packet.removesuffix('_packet')}_{level}"


@dataclass(frozen=True)
class Champion:
    """One level's champion, downloaded: where its pipeline and classifier files are."""

    level: str
    name: str
    version: str
    kind: str
    mlflow_run_id: str
    folder: Path  # the downloaded model
    reads: str = SCALED_VECTOR  # a Keras or XGBoost champion's input vector of its pipeline

    @property
    def spark_model(self) -> Path:
        """Spark: the whole PipelineModel; Keras: not applicable."""
        return self.folder / "model" / SPARK_MODEL_DIR

    @property
    def feature_pipeline(self) -> Path:
        """The fitted feature stages: inside the Spark model, or the run's artifact."""
        return self.spark_model if self.kind == "spark" else self.folder / FEATURE_PIPELINE

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def network(self):
        """A non-Spark champion's classifier in its MLflow flavour, as a function of the
        vector it reads (``reads``, float32 rows) to class probabilities."""
        if self.kind == "keras":
            import mlflow.keras

            model = mlflow.keras.load_model(str(self.folder / "model"))
            return lambda x: np.asarray(model.predict_on_batch(x))
        if self.kind == "xgboost":
            import mlflow.xgboost
            import xgboost

            booster = mlflow.xgboost.load_model(str(self.folder / "model"))
            return lambda x: np.asarray(booster.predict(xgboost.DMatrix(x)))
        raise ValueError(f"{self.label}: unknown model kind {self.kind!r}")


def _version(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, ALIAS)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def fetch(client, level: str, into: Path) -> Champion | None:
    """The level's champion downloaded under ``into``, or None when the level has none."""
    from mlflow.artifacts import download_artifacts

    name = registered_name(level)
    version = _version(client, name)
    if version is None:
        log.info("level %s: no %s@%s yet; not scored", level, name, ALIAS)
        return None
    kind = version.tags.get(TAG_KIND, "spark")
    folder = into / level
    folder.mkdir(parents=True, exist_ok=True)
    download_artifacts(artifact_uri=f"models:/{name}/{version.version}", dst_path=str(folder / "model"))
    if kind != "spark":
        download_artifacts(run_id=version.run_id, artifact_path=FEATURE_PIPELINE, dst_path=str(folder))
    reads = version.tags.get(TAG_INPUT, SCALED_VECTOR)
    champion = Champion(level, name, str(version.version), kind, version.run_id, folder, reads)
    log.info("level %s: scoring with %s (%s, MLflow run %s)", level, champion.label, kind, version.run_id)
    return champion


def fetch_all(client, levels: tuple[str, ...], into: Path) -> list[Champion]:
    """The champions of ``levels`` that exist; NoChampion when none does."""
    found = [c for level in levels if (c := fetch(client, level, into)) is not None]
    if not found:
        names = ", ".join(f"{registered_name(level)}@{ALIAS}" for level in levels)
        raise NoChampion(f"no champion to score with ({names} not found): train models first (mqtt_pipeline)")
    return found
