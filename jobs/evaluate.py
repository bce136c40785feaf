"""Evaluate and register a learning run (Task III), and challenge the champion.

    spark-submit jobs/evaluate.py --run-id manual_1 --models lr,rf,dnn_narrow,dnn_wide

Scores every trained model of the run on the test split and on the test rows
whose feature vector never occurs in train (the leakage-aware figure), writes
mqtt.model_runs, mqtt.model_metrics, mqtt.confusion_matrix and
mqtt.feature_columns, draws plots/confusion_<model>.png in the run folder, and
lets the run's best model challenge mqtt.champion: it is promoted only if its
macro F1 beats the champion's on the same test rows. Prints the metrics table.
"""

from __future__ import annotations

import sys

from mqttids.learning import evaluation, grids, registry
from mqttids.learning.artifacts import RunFolder
from mqttids.runtime import cli, db
from mqttids.warehouse import revision

ALL_MODELS = grids.MODELS


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/evaluate.py", __doc__)
    cli.add_run(p)
    cli.add_db(p)
    p.add_argument(
        "--models",
        default=",".join(ALL_MODELS),
        help="comma-separated models to evaluate; untrained ones are skipped "
        f"(default: {','.join(ALL_MODELS)})",
    )
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(ALL_MODELS))
    if unknown or not models:
        p.error(f"--models: unknown {unknown}; choose from {', '.join(ALL_MODELS)}")
    cli.setup_logging()
    folder = RunFolder.of(args.run_id, args.artifacts)
    try:
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
        _, decision = evaluation.evaluate(url, args.run_id, folder, models)
        conn = db.connect(url)
        try:
            print(registry.summary(conn, args.run_id))
        finally:
            conn.close()
    except (FileNotFoundError, db.DatabaseUnreachable, revision.WarehouseOutdated) as err:
        print(f"evaluate failed: {err}", file=sys.stderr)
        return 1
    print(f"champion: {'promoted' if decision.promoted else 'kept'}: {decision.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
