"""Command-line pieces every job shares: logging, run id, database URL."""

from __future__ import annotations

import argparse
import logging


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


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db-url",
        default=None,
        help="postgresql://user:pass@host:port/db (default: MQTTIDS_DB_URL, else embedded)",
    )
