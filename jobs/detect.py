"""Score captures nobody labelled with the champion of each feature level (issue 11).

    spark-submit jobs/detect.py --captures 'landing/captures/*.pcap' --run-id manual_1
    spark-submit jobs/detect.py --captures data/landing/captures --only new

Each input (a PCAP/PCAPNG capture, converted with tshark, or a raw per-class CSV of tshark
fields) is parsed, given each level's features by its champion's own fitted pipeline
(models:/mqtt_ids_<level>@champion), scored, and written per connection to mqtt.detections,
with connections and packets per predicted class in mqtt.detection_summary. Rescoring a
capture replaces its rows. Levels without a champion are skipped; none at all is an error.
Prints each capture's summary.
"""

from __future__ import annotations

import sys

from mlflow.exceptions import MlflowException

from mqttids.capture import tshark
from mqttids.detection import batch, champions, inputs, levels
from mqttids.detection import tables as detection_tables
from mqttids.runtime import cli, db, input_paths, tracking_server
from mqttids.runtime.spark import session
from mqttids.warehouse import revision


def _levels(text: str) -> tuple[str, ...]:
    picked = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    unknown = [x for x in picked if x not in levels.LEVELS]
    if unknown or not picked:
        raise ValueError(f"--levels: unknown {unknown}; choose from {', '.join(levels.LEVELS)}")
    return picked


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/detect.py", __doc__)
    p.add_argument("--captures", required=True, help="a capture or CSV, a folder of them, or a glob")
    p.add_argument("--run-id", default="manual", help="stamped on the rows (default: %(default)s)")
    p.add_argument(
        "--levels",
        default=",".join(levels.LEVELS),
        help="comma-separated feature levels to score (default: %(default)s)",
    )
    p.add_argument("--mqtt-ports", default="", help="broker ports tshark decodes as MQTT, e.g. 1883,8883")
    p.add_argument(
        "--only",
        choices=("all", "new"),
        default="all",
        help="all: score (and replace) every input; new: only inputs never scored (landing runs)",
    )
    cli.add_db(p)
    args = p.parse_args(argv)
    try:
        wanted = _levels(args.levels)
        ports = [int(x) for x in (args.mqtt_ports or "").split(",") if x.strip()]
    except ValueError as err:
        p.error(str(err))
    cli.setup_logging()
    spark = None
    try:
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
        client = tracking_server.connect()
        spark = session("mqttids-detect", jdbc=False)
        results = batch.score(
            spark, args.captures, url, client, args.run_id, wanted, ports, args.only == "new"
        )
        conn = db.connect(url)
        try:
            for result in results:
                print(_report(result, detection_tables.summary(conn, result.capture)))
        finally:
            conn.close()
    except (
        inputs.InputError,
        input_paths.InputNotAllowed,
        tshark.TsharkMissing,
        champions.NoChampion,
        db.DatabaseUnreachable,
        revision.WarehouseOutdated,
        tracking_server.TrackingUnavailable,
    ) as err:
        print(f"detect failed: {err}", file=sys.stderr)
        return 1
    except MlflowException as err:
        print(f"detect failed: MLflow: {err.message}", file=sys.stderr)
        return 1
    finally:
        if spark is not None:
            spark.stop()
    if not results:
        print("nothing new to score")
    return 0


def _report(result: batch.CaptureResult, rows: list[tuple]) -> str:
    note = " (TRUNCATED capture: packets before the cut)" if result.truncated else ""
    lines = [f"{result.capture}: {result.packets:,} packets, {result.connections:,} connections{note}"]
    lines += [
        f"  {level:<15}{predicted:<12}{connections:>6} connections {packets:>9,} packets  {model}"
        for level, predicted, connections, packets, model in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
