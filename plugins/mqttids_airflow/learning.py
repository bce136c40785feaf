"""DAG-side choices of the learning stage: which trainers run, on which batches.

A UI trigger picks the models (``models`` param) and the grid size (``grid``);
trainers of unpicked models are skipped by a branch task, and the evaluator
registers whatever was trained. ``train_days`` widens a scheduled retraining
to the last N daily batches, ending at the run's own.
"""

from __future__ import annotations

from datetime import date, timedelta

from airflow.sdk import Param

from mqttids.learning import grids

TRAINER_TASK = {"lr": "train_lr", "rf": "train_rf", **{m: "train_tf" for m in grids.KERAS_MODELS}}


def params() -> dict[str, Param]:
    return {
        "models": Param(
            list(grids.MODELS),
            type="array",
            items={"type": "string", "enum": list(grids.MODELS)},
            description="Models to train: Spark lr/rf, Keras dnn_narrow/dnn_wide. Empty: no learning.",
        ),
        "grid": Param("quick", enum=list(grids.SIZES), description="Hyperparameter grid size."),
        "train_days": Param(
            1,
            type="integer",
            minimum=1,
            description="Learn from the last N daily batches, ending at this run's.",
        ),
    }


def wants_learning(params: dict) -> bool:
    """False when the trigger picked no model: the learning stage is skipped."""
    return bool(params["models"])


def trainer_tasks(models: list[str]) -> list[str]:
    """The task ids that train ``models`` (one Keras task trains every network picked)."""
    return sorted({TRAINER_TASK[m] for m in models})


def keras_models(params: dict) -> str:
    """The picked Keras networks, as train_tf's --models argument."""
    return ",".join(m for m in params["models"] if m in grids.KERAS_MODELS)


def first_batch(ds: str, params: dict) -> str:
    """The first batch date a run learns from."""
    return (date.fromisoformat(ds) - timedelta(days=int(params["train_days"]) - 1)).isoformat()
