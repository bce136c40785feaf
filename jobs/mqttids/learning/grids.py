"""Hyperparameter grids of every model, in two sizes: ``quick`` and ``full``.

``quick`` is what ``make run``, the tests and a UI trigger use by default: two
candidates per model, so a learning run takes minutes on two cores. ``full``
is the grid for a real retraining (random forest depth 20-30 included: the
published MQTTset results say depth matters). The forest's feature subset per
split matters as much here: with 53 mostly one-hot features, Spark's default
for classification (sqrt, 7 features) keeps missing the informative ones
(macro F1 0.66 on the reduced sample, against 0.72 with half the features). A JSON file given with
``--grid-file`` replaces any model's grid, e.g. ``{"rf": {"maxDepth": [25]}}``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

SIZES = ("quick", "full")
SPARK_MODELS = ("lr", "rf")
KERAS_MODELS = ("dnn_narrow", "dnn_wide")
XGB_MODELS = ("xgb",)
MODELS = (*SPARK_MODELS, *KERAS_MODELS, *XGB_MODELS)

GRIDS: dict[str, dict[str, dict[str, list[Any]]]] = {
    "quick": {
        "lr": {"regParam": [0.0, 0.001], "elasticNetParam": [0.0], "maxIter": [100]},
        "rf": {
            "numTrees": [40],
            "maxDepth": [20],
            "maxBins": [64],
            "featureSubsetStrategy": ["onethird", "0.5"],
        },
        "dnn_narrow": {
            "depth": [4],
            "width": [32],
            "optimizer": ["adam"],
            "learning_rate": [1e-3, 3e-3],
            "activation": ["relu"],
        },
        "dnn_wide": {
            "depth": [2],
            "width": [256],
            "optimizer": ["adam"],
            "learning_rate": [1e-3],
            "activation": ["relu", "tanh"],
        },
        # Rounds are a ceiling: each fold stops 10 rounds after its validation loss stops falling.
        "xgb": {"max_depth": [6, 10], "learning_rate": [0.3], "num_boost_round": [200]},
    },
    "full": {
        "lr": {"regParam": [0.0, 1e-4, 1e-3, 1e-2], "elasticNetParam": [0.0, 0.5], "maxIter": [100, 300]},
        "rf": {
            "numTrees": [50, 100],
            "maxDepth": [10, 20, 25, 30],
            "maxBins": [32, 128],
            "featureSubsetStrategy": ["onethird", "0.5"],
        },
        "dnn_narrow": {
            "depth": [3, 5],
            "width": [16, 32],
            "optimizer": ["adam", "rmsprop"],
            "learning_rate": [1e-3, 3e-3],
            "activation": ["relu"],
        },
        "dnn_wide": {
            "depth": [1, 2],
            "width": [256, 512],
            "optimizer": ["adam"],
            "learning_rate": [3e-4, 1e-3],
            "activation": ["relu", "tanh"],
        },
        "xgb": {
            "max_depth": [4, 6, 10],
            "learning_rate": [0.1, 0.3],
            "min_child_weight": [1, 5],
            "num_boost_round": [500],
        },
    },
}


def grid(model: str, size: str = "quick", grid_file: str | None = None) -> dict[str, list[Any]]:
    """The grid of ``model``: the built-in one of ``size``, or the file's where it names the model."""
    if size not in SIZES:
        raise ValueError(f"grid size must be one of {', '.join(SIZES)}, got {size!r}")
    chosen = dict(GRIDS[size][model])
    if grid_file:
        overrides = json.loads(Path(grid_file).read_text()).get(model, {})
        unknown = set(overrides) - set(chosen)
        if unknown:
            raise ValueError(f"{grid_file}: unknown {model} parameters {sorted(unknown)}")
        chosen.update({k: v if isinstance(v, list) else [v] for k, v in overrides.items()})
    return chosen


def candidates(model_grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, as parameter dicts."""
    keys = sorted(model_grid)
    return [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*(model_grid[k] for k in keys))
    ]
