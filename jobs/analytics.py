"""Analytics (Task II): average lengths, class histogram and top flags of mqtt.packets.

Run it with spark-submit, from Airflow or by hand:

    spark-submit jobs/analytics.py --run-id manual_1 --top-x 5 --batch-date 2020-06-01

Spark reads the packets of the chosen batches (all when none is given) once, in
parallel, and writes mqtt.avg_mqtt_len, mqtt.avg_tcp_len_by_target, mqtt.top_tcp_flags,
mqtt.class_histogram and mqtt.top_hdrflags_by_target, each row stamped with the run id
and the batch dates read. Rerunning a run id replaces its rows. The job ends by printing
the answers; it exits non-zero, saying why, when there are no packets to analyse.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from mqttids.analytics import cube
from mqttids.runtime import cli, db
from mqttids.runtime.spark import session
from mqttids.warehouse import batches, revision
from mqttids.warehouse.batches import BatchRange

log = logging.getLogger("analytics")


def _positive_int(text: str) -> int:
    """argparse type for --top-x: the library's check, reported as a usage error (exit 2)."""
    try:
        return cube.check_top_x(int(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive integer (1, 2, ...)") from err


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``args.batches`` is the BatchRange to analyse."""
    parser = argparse.ArgumentParser(
        prog="spark-submit jobs/analytics.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Without --batch-date, --from-date or --to-date every loaded batch is analysed.\n"
        "The database URL may also come from MQTTIDS_DB_URL; with neither, the embedded\n"
        "PostgreSQL is started. Results: SELECT * FROM mqtt.top_tcp_flags WHERE run_id = '...'",
    )
    parser.add_argument(
        "--run-id", required=True, help="names this run's rows in every table; rerunning an id replaces them"
    )
    parser.add_argument(
        "--top-x",
        type=_positive_int,
        default=5,
        metavar="X",
        help="how many tcp.flags ranks to keep; flags tied at rank X are all kept (default: 5)",
    )
    parser.add_argument("--batch-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="one batch")
    parser.add_argument(
        "--from-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="first batch (inclusive)"
    )
    parser.add_argument(
        "--to-date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="last batch (inclusive)"
    )
    parser.add_argument(
        "--db-url",
        default=None,
        help="postgresql://user:pass@host:port/db (default: MQTTIDS_DB_URL, else embedded)",
    )
    args = parser.parse_args(argv)
    if args.batch_date and (args.from_date or args.to_date):
        parser.error("--batch-date cannot be combined with --from-date/--to-date")
    if not args.run_id.strip():
        parser.error("--run-id must not be empty")
    try:
        args.batches = (
            BatchRange.single(args.batch_date)
            if args.batch_date
            else BatchRange(args.from_date, args.to_date)
        )
    except ValueError as err:
        parser.error(f"--from-date/--to-date: {err}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the analytics and print the summary; 1 with a message when there is nothing to do."""
    args = parse_args(argv)
    cli.setup_logging()
    try:
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
        batches.check_input(url, args.batches)  # fail before paying for a JVM
        spark = session("mqttids-analytics", jdbc=True)
        try:
            cube.run(spark, url, args.run_id, args.top_x, args.batches)
        finally:
            spark.stop()
        conn = db.connect(url, application="mqttids-analytics")
        try:
            print(cube.summary(conn, args.run_id))
        finally:
            conn.close()
    except (batches.NoPackets, db.DatabaseUnreachable, revision.WarehouseOutdated) as err:
        log.error("%s", err)
        print(f"analytics failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
