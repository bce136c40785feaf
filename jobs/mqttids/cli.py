"""Command-line pieces the learning jobs share: batch range, run id, database URL."""

from __future__ import annotations

import argparse
import logging
from datetime import date

from mqttids.analytics import BatchRange


def setup_logging() -> None:
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
