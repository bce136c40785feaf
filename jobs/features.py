"""Features (Task III): fit the feature pipeline on train, write model-ready Parquet.

    spark-submit jobs/features.py --run-id manual_1 --batch-date 2020-06-01

Reads the packets of the chosen batches from PostgreSQL and builds each feature
level (--levels; default all): ``packet`` (each packet's own columns),
``packet_context`` (plus its connection so far) and ``connection`` (one row per
connection window, MQTTIDS_CONNECTION_WINDOW seconds). For each it decides from
the train split which columns to drop (constant, duplicate information) and why,
fits indexers, one-hot encoders and a scaler on train only, and writes
features/train.parquet, features/test.parquet, the fitted pipeline and
features/meta.json under the level's folder (the run folder for packet,
<run folder>/<level>/ for the others). Batches without connection ids skip the
connection levels, saying why. The trainers read only these files.
"""

from __future__ import annotations

import logging
import sys

from mqttids.learning import cli as learning_cli
from mqttids.learning import features, levels
from mqttids.learning.artifacts import RunFolder
from mqttids.runtime import cli, db
from mqttids.runtime.spark import session
from mqttids.warehouse import batches, revision

log = logging.getLogger("features")


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/features.py", __doc__)
    cli.add_run(p)
    batches.add_flags(p)
    cli.add_db(p)
    learning_cli.add_levels(p)
    args = p.parse_args(argv)
    batch_range = batches.from_flags(p, args)
    cli.setup_logging()
    try:
        folder = RunFolder.of(args.run_id, args.artifacts)
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
        batches.check_input(url, batch_range)
        spark = session("mqttids-features", jdbc=True)
        try:
            packets = features.read_packets(spark, url, batch_range)
            built = levels.build(
                spark, packets, args.run_id, folder, batch_range, args.levels or list(levels.LEVELS)
            )
        finally:
            spark.stop()
    except (batches.NoPackets, db.DatabaseUnreachable, revision.WarehouseOutdated, ValueError) as err:
        print(f"features failed: {err}", file=sys.stderr)
        return 1
    for level, summary in built.items():
        if isinstance(summary, str):
            print(summary)
            continue
        dropped = [d.column for d in summary.columns if d.action == "dropped"]
        print(
            f"features [{level}]: {summary.train_rows:,} train and {summary.test_rows:,} test rows "
            f"({summary.unseen_test_rows:,} test rows unseen in train); {len(summary.kept())} columns "
            f"kept -> {summary.feature_size} features; dropped {', '.join(dropped) or 'none'}\n"
            f"written to {levels.folder_of(folder, level).root}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
