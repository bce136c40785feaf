"""DAG-side choices of the learning stage: which trainers run, on which batches.

A UI trigger picks the models (``models`` param), the feature levels they learn
from (``levels``: packet, packet_context, connection) and the grid size (``grid``);
trainers of unpicked models are skipped by a branch task, and the evaluator
registers whatever was trained. ``train_days`` widens a scheduled retraining
to the last N daily batches, ending at the run's own.
"""

from __future__ import annotations

from datetime import date, timedelta

from airflow.sdk import Param

from mqttids.connection.features import LEVELS
from mqttids.learning import grids
from mqttids.runtime import config

TRAINER_TASK = {
    "lr": "train_lr",
    "rf": "train_rf",
    **{m: "train_tf" for m in grids.KERAS_MODELS},
    **{m: "train_xgb" for m in grids.XGB_MODELS},
}


def default_models() -> list[str]:
    """The ``models`` param's default (``MQTTIDS_MODELS``), checked: a typo must fail at parse time."""
    names = [m.strip() for m in config.MODELS.get().split(",") if m.strip()]
    unknown = sorted(set(names) - set(grids.MODELS))
    if unknown:
        choices = ", ".join(grids.MODELS)
        raise ValueError(f"MQTTIDS_MODELS names unknown models {unknown}: choose from {choices}")
    return [m for m in grids.MODELS if m in names]


def params() -> dict[str, Param]:
    return {
        "models": Param(
            default_models(),
            type=["null", "array"],
            items={"type": "string", "enum": list(grids.MODELS)},
            uniqueItems=True,
            description="Models to train, any of: lr, rf (Spark logistic regression, random forest), "
            "dnn_narrow, dnn_wide (Keras networks), xgb (XGBoost gradient-boosted trees), e.g. lr and "
            "rf only for a quick run. Empty: no learning (ingest and analytics only). Default: "
            "MQTTIDS_MODELS (all five).",
        ),
        "levels": Param(
            list(LEVELS),
            type=["null", "array"],
            items={"type": "string", "enum": list(LEVELS)},
            uniqueItems=True,
            description="Feature levels every picked model learns from: packet (each packet alone), "
            "packet_context (the packet and its connection so far), connection (one row per "
            "connection window), e.g. packet and connection. Batches without connection ids (MQTTset's "
            "train/test CSVs) skip the two connection levels, saying so in the features log. "
            "Empty: all three.",
        ),
        "grid": Param(
            "quick",
            enum=list(grids.SIZES),
            description="Hyperparameter grid searched by cross-validation: quick (a few points, "
            "minutes) or full (every point, much longer), e.g. quick.",
        ),
        "train_days": Param(
            1,
            type="integer",
            minimum=1,
            maximum=366,
            description="Learn from the last N daily batches, ending at this run's, e.g. 7 for a week. "
            "1: this run's batch only.",
        ),
    }


def picked(params: dict) -> list[str]:
    """The models the trigger picked; none when the form sent an empty list or null."""
    return list(params.get("models") or [])


def level_list(params: dict) -> str:
    """The picked levels, as the --levels argument of features, the trainers and evaluate."""
    picked_levels = params.get("levels") or list(LEVELS)
    return ",".join(level for level in LEVELS if level in picked_levels)


def model_list(params: dict) -> str:
    """The picked models, as evaluate's --models argument."""
    return ",".join(picked(params))


def wants_learning(params: dict) -> bool:
    """False when the trigger picked no model: the learning stage is skipped."""
    return bool(picked(params))


def trainer_tasks(models: list[str]) -> list[str]:
    """The task ids that train ``models`` (one Keras task trains every network picked)."""
    return sorted({TRAINER_TASK[m] for m in models})


def keras_models(params: dict) -> str:
    """The picked Keras networks, as train_tf's --models argument."""
    return ",".join(m for m in picked(params) if m in grids.KERAS_MODELS)


def first_batch(ds: str, params: dict) -> str:
    """The first batch date a run learns from."""
    return (date.fromisoformat(ds) - timedelta(days=int(params["train_days"]) - 1)).isoformat()
