"""Ingest (Task I): load MQTTset train and test CSVs into mqtt.packets.

Run it with spark-submit, from Airflow or by hand:

    spark-submit jobs/ingest.py --train data/sample/train70.csv \\
        --test data/sample/test30.csv --db-url postgresql://user@host:5432/db

Both files become one batch of ``mqtt.packets`` (typed columns plus
``split``, ``batch_date`` and ``source_file``). Rows that fail parsing or
constraints go to ``mqtt.rejected_rows`` with the reason. Loading the same
batch date again replaces it. The job exits non-zero, naming the file and
the problem, when an input is missing, empty or has a wrong header.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime

from mqttids.ingest import loading, sources
from mqttids.runtime import cli, db, input_paths
from mqttids.runtime.spark import session
from mqttids.warehouse import revision


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="spark-submit jobs/ingest.py",
        description=__doc__.split("\n\n")[0],
        epilog="The database URL may also come from MQTTIDS_DB_URL; with neither, the embedded "
        "PostgreSQL is started. The warehouse must be at the schema revision this code needs: "
        "`make db-upgrade` brings it there. Paths may be local, globs (landing/2026-11-28/train*.csv) "
        "or gs://.",
    )
    parser.add_argument("--train", required=True, help="train CSV: path, glob or gs:// URI")
    parser.add_argument("--test", required=True, help="test CSV: path, glob or gs:// URI")
    parser.add_argument(
        "--db-url",
        default=None,
        help="postgresql://user:pass@host:port/db (default: MQTTIDS_DB_URL, else embedded)",
    )
    parser.add_argument(
        "--batch-date",
        type=date.fromisoformat,
        default=None,
        help="YYYY-MM-DD this load is filed under; rerunning a date replaces it (default: today, UTC)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cli.setup_logging()
    batch_date = args.batch_date or datetime.now(UTC).date()
    try:  # a refused location or an outdated warehouse fails before Spark starts
        input_paths.check(args.train, "train input")
        input_paths.check(args.test, "test input")
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
    except (input_paths.InputNotAllowed, db.DatabaseUnreachable, revision.WarehouseOutdated) as err:
        logging.getLogger("ingest").error("%s", err)
        print(f"ingest failed: {err}", file=sys.stderr)
        return 1
    spark = session("mqttids-ingest")
    try:
        inputs = [sources.resolve(spark, "train", args.train), sources.resolve(spark, "test", args.test)]
        result = loading.load_batch(spark, inputs, url, batch_date)
    except (
        sources.SourceError,
        input_paths.InputNotAllowed,
        db.DatabaseUnreachable,
        loading.ReadBackMismatch,
        loading.LoadInProgress,
    ) as err:
        logging.getLogger("ingest").error("%s", err)
        print(f"ingest failed: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # anything else: a one-line cause first, then the traceback
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"ingest failed: {type(err).__name__}: {first}", file=sys.stderr)
        logging.getLogger("ingest").exception("ingest failed; nothing was published")
        return 1
    finally:
        spark.stop()
    rate = result.rows_read / result.seconds if result.seconds else 0.0
    print(
        f"batch {batch_date}: read {result.rows_read:,} rows, loaded {result.rows_loaded:,}, "
        f"rejected {result.rows_rejected:,} in {result.seconds:.1f} s ({rate:,.0f} rows/s)"
    )
    for (split, target), rows in sorted(result.loaded.items()):
        print(f"  {split:5} {target:12} {rows:>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
