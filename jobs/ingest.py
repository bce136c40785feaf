"""Ingest (Task I): load MQTTset CSVs and MQTT captures into mqtt.packets.

Run it with spark-submit, from Airflow or by hand:

    spark-submit jobs/ingest.py --train data/sample/train70.csv \\
        --test data/sample/test30.csv --db-url postgresql://user@host:5432/db
    spark-submit jobs/ingest.py --train 'corpus/*-train.pcap' --test 'corpus/*-test.pcap'
    spark-submit jobs/ingest.py --train 'captures/*.pcapng' --split-by connection

Inputs may be MQTTset train/test CSVs, the authors' per-class CSVs (60 tshark fields), or
PCAP/PCAPNG captures (converted with tshark), alone or mixed; see docs/inputs.md. All files
become one batch of ``mqtt.packets`` (typed columns plus ``split``, ``batch_date``,
``source_file`` and, where the input has them, the connection columns). Rows that fail parsing
or constraints go to ``mqtt.rejected_rows`` with the reason. Loading the same batch date again
replaces it. The job exits non-zero, naming the file and the problem, when an input is missing,
empty, of an unknown kind or has a wrong header.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime

from mqttids.capture import spark_convert, tshark
from mqttids.ingest import labels, loading, sources
from mqttids.runtime import cli, config, db, input_paths
from mqttids.runtime.spark import session
from mqttids.warehouse import revision


def _split_by(text: str) -> str | None:
    """--split-by: 'connection', or empty for the splits as given (what an empty DAG param sends)."""
    if text.strip() in ("", "none"):
        return None
    if text.strip() != "connection":
        raise argparse.ArgumentTypeError(f"expected 'connection' (or nothing), got {text!r}")
    return "connection"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="spark-submit jobs/ingest.py",
        description=__doc__.split("\n\n")[0],
        epilog="The database URL may also come from MQTTIDS_DB_URL; with neither, the embedded "
        "PostgreSQL is started. The warehouse must be at the schema revision this code needs: "
        "`make db-upgrade` brings it there. Paths may be local, globs (landing/2026-11-28/train*.csv) "
        "or gs://.",
    )
    parser.add_argument("--train", required=True, help="train CSVs or captures: path, glob or gs:// URI")
    parser.add_argument(
        "--test", default="", help="test CSVs or captures: path, glob or gs:// URI (omit with --split-by)"
    )
    parser.add_argument(
        "--labels",
        default="",
        help="label map for files without a target column, 'pattern=class,...' on file names, "
        f"case-insensitive (default: {labels.DEFAULT_TEXT})",
    )
    parser.add_argument(
        "--mqtt-ports",
        default=config.MQTT_PORTS.get(),
        help="TCP ports tshark decodes as MQTT, comma-separated (default: MQTTIDS_MQTT_PORTS or 1883; "
        "a corpus.json beside the captures adds its port)",
    )
    parser.add_argument(
        "--split-by",
        type=_split_by,
        default=None,
        metavar="connection",
        help="with --train only: file each connection under train or test (70/30 by connection id), "
        "so no connection is in both",
    )
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
    args = parser.parse_args(argv)
    if args.split_by and args.test:
        parser.error("--split-by makes the test split from --train: give no --test")
    if not (args.split_by or args.test):
        parser.error("give --test, or --split-by connection to split --train")
    try:
        ports = args.mqtt_ports.strip() or config.MQTT_PORTS.get()
        args.mqtt_ports = sorted({int(p) for p in ports.split(",") if p.strip()})
    except ValueError:
        parser.error(f"--mqtt-ports: not a comma-separated list of ports: {args.mqtt_ports!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cli.setup_logging()
    batch_date = args.batch_date or datetime.now(UTC).date()
    try:  # a refused location or an outdated warehouse fails before Spark starts
        input_paths.check(args.train, "train input")
        if args.test:
            input_paths.check(args.test, "test input")
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
    except (input_paths.InputNotAllowed, db.DatabaseUnreachable, revision.WarehouseOutdated) as err:
        logging.getLogger("ingest").error("%s", err)
        print(f"ingest failed: {err}", file=sys.stderr)
        return 1
    spark = session("mqttids-ingest")
    try:
        label_map = labels.LabelMap.parse(args.labels)
        given = [("train", args.train)] + ([("test", args.test)] if args.test else [])
        inputs = [sources.resolve(spark, split, uri, label_map) for split, uri in given]
        sources.check_label_map(inputs, label_map)
        if args.split_by:
            sources.check_connections(inputs)
        result = loading.load_batch(spark, inputs, url, batch_date, args.mqtt_ports, args.split_by)
    except (
        sources.SourceError,
        labels.LabelMapError,
        spark_convert.CaptureError,
        tshark.TsharkMissing,
        db.DatabaseUnreachable,
        loading.ReadBackMismatch,
        input_paths.InputNotAllowed,
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
        print(f"  {split:5} {target or '(unlabelled)':12} {rows:>10,}")
    for capture in result.converted:
        cut = " TRUNCATED: packets before the cut loaded" if capture.truncated else ""
        print(f"  capture {capture.source_file}: {capture.packets:,} packets ({capture.seconds:.1f} s){cut}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
