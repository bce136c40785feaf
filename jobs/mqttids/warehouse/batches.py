"""Which ingest batches a stage reads, and how Spark reads them in parallel.

Every stage after ingest works on a range of batch dates (one landing batch, a backfill range,
or all of them), and reads ``mqtt.packets`` with Spark's JDBC reader split into even partitions.
Both live here so analytics and learning read the warehouse the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date

from mqttids.runtime import db
from mqttids.schema import SPLITS
from mqttids.warehouse import tables


class NoPackets(RuntimeError):
    """There are no packets to analyse for the requested batch dates."""


FETCH_SIZE = "10000"  # rows per round trip; 0 (the default) makes the driver buffer everything


@dataclass(frozen=True)
class BatchRange:
    """Which batches to analyse: ``first`` to ``last`` inclusive, either end open."""

    first: date | None = None
    last: date | None = None

    def __post_init__(self) -> None:
        if self.first and self.last and self.first > self.last:
            raise ValueError(f"batch range is empty: {self.first} is after {self.last}")

    @classmethod
    def single(cls, day: date) -> BatchRange:
        return cls(day, day)

    def sql(self) -> str:
        """A WHERE condition on batch_date; dates are ``date`` objects, so inlining is safe."""
        parts = []
        if self.first:
            parts.append(f"batch_date >= DATE '{self.first.isoformat()}'")
        if self.last:
            parts.append(f"batch_date <= DATE '{self.last.isoformat()}'")
        return " AND ".join(parts) or "TRUE"

    def __str__(self) -> str:
        if self.first is None and self.last is None:
            return "all batches"
        if self.first == self.last:
            return f"batch {self.first}"
        return f"batches {self.first or 'first'} to {self.last or 'last'}"


def check_input(url: str, batches: BatchRange) -> None:
    """Raise NoPackets unless mqtt.packets has at least one row in ``batches``.

    Cheap (it stops at the first row), so the CLI calls it before starting Spark.
    """
    conn = db.connect(url, application="mqttids-batches")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (tables.PACKETS,))
            exists = cur.fetchone()[0]
            if exists:
                cur.execute(f"SELECT EXISTS (SELECT 1 FROM {tables.PACKETS} WHERE {batches.sql()})")
                exists = cur.fetchone()[0]
    finally:
        conn.close()
    if not exists:
        raise NoPackets(
            f"no packets in {tables.PACKETS} for {batches}: load the data first (jobs/ingest.py), "
            "or choose batch dates that were loaded"
        )


def predicates(batches: BatchRange, buckets: int) -> list[str]:
    """One JDBC partition per split and part_no bucket, each restricted to ``batches``.

    Only labelled packets: analytics and learning are per class, while the unlabelled packets of
    captures that match no class wait to be scored.
    """
    return [
        f"split = '{split}' AND part_no % {buckets} = {bucket} AND {batches.sql()} AND target IS NOT NULL"
        for split in SPLITS
        for bucket in range(buckets)
    ]


def add_flags(p: argparse.ArgumentParser) -> None:
    """--batch-date, or --from-date/--to-date: the batches a job reads."""
    p.add_argument("--batch-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="one batch")
    p.add_argument("--from-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="first batch")
    p.add_argument("--to-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="last batch")


def from_flags(p: argparse.ArgumentParser, args: argparse.Namespace) -> BatchRange:
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
