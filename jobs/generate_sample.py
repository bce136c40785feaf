"""Generate a realistic MQTTset sample, lay it out as daily landing batches, or calibrate one.

The platform must run without the Kaggle download, so this writes CSVs with MQTTset's exact
columns, formatting quirks and published statistics (see ``mqttids.sample.generator`` for the model).
Output depends only on the arguments: the same ``--seed`` gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from mqttids.sample import generator
from mqttids.sample.published import AUGMENTED_ROWS, REDUCED_ROWS

DEFAULT_START = dt.date(2020, 6, 1)

EPILOG = f"""\
shapes:
  reduced    {sum(REDUCED_ROWS["train"].values()):,} train / \
{sum(REDUCED_ROWS["test"].values()):,} test rows with the published per-class counts
  augmented  {sum(AUGMENTED_ROWS["train"].values()):,} / \
{sum(AUGMENTED_ROWS["test"].values()):,} rows (legitimate half, each attack a tenth),
             streamed to disk in blocks of {generator.BLOCK_ROWS:,} rows
  --rows N   N rows in all, split 70/30 with the reduced class mix (--mix augmented: the
             augmented one) and at least {generator.MIN_CLASS_ROWS} rows (or 2 per day) of every
             class in each file

examples:
  python jobs/generate_sample.py --out data/sample --shape reduced --seed 0
  python jobs/generate_sample.py --out data/small --rows 5000
  python jobs/generate_sample.py --out data/1m --rows 1000000 --mix augmented
  python jobs/generate_sample.py --landing data/landing --days 7 --rows 70000
  python jobs/generate_sample.py --calibrate data/sample   # table of docs/calibration.md
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The fixed command-line interface; size arguments are required except to calibrate."""
    parser = argparse.ArgumentParser(
        prog="generate_sample.py",
        description=(
            "Write MQTTset-format train70.csv / test30.csv files, deterministic given --seed,\n"
            "as one pair or as daily landing batches; or compare a pair with the published\n"
            "MQTTset statistics. Progress goes to stderr."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, metavar="DIR", help="write train70.csv and test30.csv")
    mode.add_argument(
        "--landing",
        type=Path,
        metavar="DIR",
        help="write DIR/<YYYY-MM-DD>/train70.csv and test30.csv for --days days, every class "
        "on every day; together the days hold the same rows per class as --out",
    )
    mode.add_argument(
        "--calibrate",
        type=Path,
        metavar="DIR",
        help="read DIR/train70.csv and DIR/test30.csv and print a markdown table "
        "'statistic | generated | published | diff %%'",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--shape", choices=("reduced", "augmented"), help="a published file size")
    size.add_argument("--rows", type=int, metavar="N", help="N rows in all, split 70/30")
    parser.add_argument(
        "--mix",
        choices=generator.MIXES,
        default="reduced",
        help="class mix of --rows: the reduced or the augmented files' (default: reduced)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--days", type=int, default=1, metavar="N", help="landing batches to write (default: 1)"
    )
    parser.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        default=DEFAULT_START,
        metavar="YYYY-MM-DD",
        help=f"date of the first landing batch (default: {DEFAULT_START}, fixed so that "
        "paths are reproducible too)",
    )
    args = parser.parse_args(argv)
    if args.calibrate is None and args.shape is None and args.rows is None:
        parser.error("--out and --landing need --shape reduced|augmented or --rows N")
    if args.mix != "reduced" and args.rows is None:
        parser.error("--mix goes with --rows (a --shape has its own class mix)")
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.rows is not None:
        try:
            args.size = generator.rows_shape(args.rows, generator.min_class_rows(args.days), args.mix)
        except ValueError as err:
            parser.error(f"--rows {args.rows}: {err}")
    elif args.shape is not None:
        args.size = generator.reduced_shape() if args.shape == "reduced" else generator.augmented_shape()
    if args.landing is not None:
        try:
            generator.check_days(args.size, args.days)
        except ValueError as err:
            parser.error(f"--days {args.days}: {err}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one mode; progress goes to stderr, the calibration table to stdout."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started = time.monotonic()
    if args.calibrate is not None:
        stats = generator.calibration(generator.tally(args.calibrate))
        sys.stdout.write(generator.calibration_markdown(stats))
        return 0
    if args.out is not None:
        written = generator.write_pair(args.out, args.size, args.seed)
    else:
        days, start = args.days, args.start_date
        written = generator.write_landing(args.landing, args.size, args.seed, days, start)
    total = sum(written.values())
    elapsed = time.monotonic() - started
    logging.info(
        "done: %s train + %s test rows in %.1f s (%s rows/s)",
        f"{written['train']:,}",
        f"{written['test']:,}",
        elapsed,
        f"{total / max(elapsed, 1e-9):,.0f}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
