"""Evaluate and register a learning run (Task III), and challenge the champion.

    spark-submit jobs/evaluate.py --run-id manual_1 --models lr,rf,dnn_narrow,dnn_wide

Scores every trained model of the run (its newest finished MLflow run), at each
feature level (--levels; default: every level the features step built), on the
test split and on the test rows whose feature vector never occurs in train
(the leakage-aware figure); logs the metrics and the confusion matrix (figure
and JSON) to the model's MLflow run and registers it as a new version of
MQTTIDS_MLFLOW_MODEL (mqtt_ids_packet; the other levels' are mqtt_ids_packet_context
and mqtt_ids_connection); writes mqtt.model_runs, mqtt.model_metrics,
mqtt.confusion_matrix and mqtt.feature_columns from the same numbers; and
lets the run's best version of each level challenge that level's @champion alias: it moves only if
the challenger's macro F1 beats the champion's on the same test rows (every
decision in mqtt.champion_decisions). Prints the metrics table.
"""

from __future__ import annotations

import sys

from mlflow.exceptions import MlflowException

from mqttids.learning import cli as learning_cli
from mqttids.learning import evaluation, grids, levels, registry, tracking
from mqttids.learning.artifacts import RunFolder
from mqttids.runtime import cli, db
from mqttids.warehouse import revision

ALL_MODELS = grids.MODELS


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/evaluate.py", __doc__)
    cli.add_run(p)
    learning_cli.add_tracking(p)
    cli.add_db(p)
    p.add_argument(
        "--models",
        default=",".join(ALL_MODELS),
        help="comma-separated models to evaluate; untrained ones are skipped "
        f"(default: {','.join(ALL_MODELS)})",
    )
    learning_cli.add_levels(p)
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(ALL_MODELS))
    if unknown or not models:
        p.error(f"--models: unknown {unknown}; choose from {', '.join(ALL_MODELS)}")
    cli.setup_logging()
    run = RunFolder.of(args.run_id, args.artifacts)
    decisions = []
    try:
        url = db.resolve_url(args.db_url)
        revision.require_head(url)
        client = tracking.connect()
        for level, folder in levels.built(run, args.levels):
            _, decision = evaluation.evaluate(
                url, args.run_id, folder, models, client=client, dag_id=args.dag_id, level=level
            )
            decisions.append((level, decision))
        conn = db.connect(url)
        try:
            print(registry.summary(conn, args.run_id))
        finally:
            conn.close()
    except (
        FileNotFoundError,
        db.DatabaseUnreachable,
        revision.WarehouseOutdated,
        tracking.TrackingUnavailable,
    ) as err:
        print(f"evaluate failed: {err}", file=sys.stderr)
        return 1
    except MlflowException as err:
        print(f"evaluate failed: {learning_cli.mlflow_failure(err)}", file=sys.stderr)
        return 1
    for level, decision in decisions:
        name = tracking.registered_name(level)
        print(f"champion of {name}: {'promoted' if decision.promoted else 'kept'}: {decision.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
