"""Train gradient-boosted trees (Task III): XGBoost, multi-class, cross-validated.

    spark-submit jobs/train_xgb.py --run-id manual_1 --levels packet,connection

Reads the run's features Parquet (jobs/features.py) of each feature level (--levels; default:
every level the features step built), chooses the tree depth, learning rate and round count by
k-fold cross-validation by connection with early stopping, trains the winner on the whole train
split streamed into XGBoost, logs params, CV scores, times and the booster (XGBoost flavor,
feature pipeline beside it) to one MLflow run per level, checks that the booster loaded back
from MLflow predicts like the trained one, and writes its test predictions. No Spark is
started. The MLflow server is checked first: if it is down, the job fails at once.
"""

from __future__ import annotations

import sys

from mlflow.exceptions import MlflowException

from mqttids.learning import cli as learning_cli
from mqttids.learning import levels, tracking, xgb_models
from mqttids.learning.artifacts import RunFolder
from mqttids.runtime import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/train_xgb.py", __doc__)
    cli.add_run(p)
    learning_cli.add_tracking(p)
    learning_cli.add_levels(p)
    learning_cli.add_tuning(p, example='{"xgb": {"max_depth": [8]}}')
    args = p.parse_args(argv)
    cli.setup_logging()
    try:
        todo = levels.built(RunFolder.of(args.run_id, args.artifacts), args.levels)
        client = tracking.connect()
    except (FileNotFoundError, tracking.TrackingUnavailable) as err:
        print(f"train_xgb failed: {err}", file=sys.stderr)
        return 1
    for level, folder in todo:
        for name in xgb_models.MODELS:
            try:
                record = xgb_models.train(
                    name,
                    folder,
                    args.grid,
                    args.grid_file,
                    args.tune_rows,
                    args.folds,
                    args.class_weight,
                    client=client,
                    key=tracking.RunKey(args.dag_id, args.run_id, name, level),
                )
            except MlflowException as err:
                print(f"train_xgb failed: {learning_cli.mlflow_failure(err)}", file=sys.stderr)
                return 1
            except (ValueError, OSError) as err:
                print(f"train_xgb failed: {err}", file=sys.stderr)
                return 1
            print(
                f"{levels.label(record.model, level)}: CV macro F1 {record.cv_score:.4f} with "
                f"{record.params}; MLflow run {record.mlflow_run_id}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
