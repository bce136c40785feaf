"""Command-line flags every trainer takes: grid size, grid file, tuning sample, folds, weights."""

from __future__ import annotations

import argparse

from mqttids.learning import grids, tuning
from mqttids.runtime import config


def _folds(text: str) -> int:
    if not text.isdigit() or int(text) < 3:
        raise argparse.ArgumentTypeError(f"{text!r}: cross-validation needs at least 3 folds")
    return int(text)


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
