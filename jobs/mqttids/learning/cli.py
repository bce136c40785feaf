"""Command-line flags of the learning jobs (MLflow run tags, grid size, grid file, tuning sample, folds),
and the loop the Keras and XGBoost trainer jobs share."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mlflow.exceptions import MlflowException

from mqttids.learning import folds, grids, levels, tracking, tuning
from mqttids.learning.artifacts import RunFolder
from mqttids.runtime import config


def _folds(text: str) -> int:
    if not text.isdigit() or int(text) < folds.MIN_FOLDS:
        raise argparse.ArgumentTypeError(f"{text!r}: cross-validation needs at least {folds.MIN_FOLDS} folds")
    return int(text)


def add_tracking(p: argparse.ArgumentParser) -> None:
    """Which DAG the run belongs to: its MLflow experiment, and the runs' airflow.dag_id tag."""
    p.add_argument(
        "--dag-id",
        default=tracking.MANUAL_DAG,
        help=f"the DAG whose run this is; names the MLflow experiment (default: {tracking.MANUAL_DAG})",
    )


def _levels(text: str) -> list[str]:
    try:
        return levels.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_levels(p: argparse.ArgumentParser) -> None:
    """Which feature levels to work on; the ones the features step skipped are skipped again."""
    p.add_argument(
        "--levels",
        type=_levels,
        default=None,
        help="comma-separated feature levels: packet, packet_context, connection; the connection "
        "levels are skipped for batches without connection ids (default: every level the "
        "features step built)",
    )


def mlflow_failure(err: Exception) -> str:
    """What a failed MLflow call means for the user, in one line."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"MLflow at {tracking.tracking_uri_hint()} failed: {text}"


def add_tuning(p: argparse.ArgumentParser, example: str) -> None:
    """Grid size, grid file, tuning sample and folds: what every trainer takes."""
    p.add_argument("--grid", default="quick", choices=grids.SIZES, help="grid size (default: quick)")
    p.add_argument("--grid-file", default=None, help=f"JSON file overriding grids, e.g. {example}")
    p.add_argument(
        "--tune-rows",
        type=int,
        default=int(config.TUNE_ROWS.get()),
        help="tune on a stratified sample of about this many rows; 0: all (default: MQTTIDS_TUNE_ROWS)",
    )
    p.add_argument("--folds", type=_folds, default=3, help="cross-validation folds, at least 3 (default: 3)")
    p.add_argument(
        "--class-weight",
        default="sqrt",
        choices=list(tuning.WEIGHTINGS),
        help="loss weights against class imbalance: a power of the balanced weights (default: sqrt)",
    )


def train_each(job: str, args: argparse.Namespace, models: Sequence[str], train: Callable) -> int:
    """Train ``models`` at every level the features step built; 1 and one line on stderr at the first error.

    ``train(name, folder, grid, grid_file, tune_rows, folds, weighting, client=, key=)`` is a
    trainer module's ``train`` (Keras, XGBoost): each run is its own MLflow run, tagged by level.
    """
    try:
        todo = levels.built(RunFolder.of(args.run_id, args.artifacts), args.levels)
        client = tracking.connect()
    except (FileNotFoundError, tracking.TrackingUnavailable) as err:
        print(f"{job} failed: {err}", file=sys.stderr)
        return 1
    for level, folder in todo:
        for name in models:
            try:
                record = train(
                    name,
                    folder,
                    args.grid,
                    args.grid_file,
                    args.tune_rows,
                    args.folds,
                    args.class_weight,
                    client=client,
                    key=tracking.RunKey(args.dag_id, args.run_id, name, level),
                )
            except MlflowException as err:
                print(f"{job} failed: {mlflow_failure(err)}", file=sys.stderr)
                return 1
            except (ValueError, OSError) as err:
                print(f"{job} failed: {err}", file=sys.stderr)
                return 1
            print(
                f"{levels.label(record.model, level)}: CV macro F1 {record.cv_score:.4f} with "
                f"{record.params}; MLflow run {record.mlflow_run_id}"
            )
    return 0
