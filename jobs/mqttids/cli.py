"""Command-line pieces the learning jobs share: batch range, run id, database URL."""

from __future__ import annotations

import argparse
import logging
from datetime import date

from mqttids import config, grids, tuning
from mqttids.analytics import BatchRange


def setup_logging() -> None:
    """The log format every job prints: time, level, logger, message."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def parser(prog: str, doc: str | None, epilog: str = "") -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=prog, description=doc, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-id", required=True, help="the learning run; its files live under runs/<run id>/")
    p.add_argument(
        "--artifacts",
        default=None,
        metavar="URI",
        help="root of run folders, local path or gs:// (default: MQTTIDS_ARTIFACTS_URI)",
    )


def add_batches(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="one batch")
    p.add_argument("--from-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="first batch")
    p.add_argument("--to-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="last batch")


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db-url",
        default=None,
        help="postgresql://user:pass@host:port/db (default: MQTTIDS_DB_URL, else embedded)",
    )


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


def batches(p: argparse.ArgumentParser, args: argparse.Namespace) -> BatchRange:
    """The BatchRange the flags name, or a usage error."""
    if args.batch_date and (args.from_date or args.to_date):
        p.error("--batch-date cannot be combined with --from-date/--to-date")
    try:
        if args.batch_date:
            return BatchRange.single(args.batch_date)
        return BatchRange(args.from_date, args.to_date)
    except ValueError as err:
        p.error(f"--from-date/--to-date: {err}")
        raise  # unreachable: p.error exits
