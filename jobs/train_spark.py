"""Train a Spark ML model (Task III): logistic regression or random forest, cross-validated.

    spark-submit jobs/train_spark.py --run-id manual_1 --model rf --grid quick

Reads the run's features (jobs/features.py writes them) of each feature level
(--levels; default: every level the features step built), tunes the model by
k-fold cross-validation on macro F1 (on a stratified sample when the train
split is large), fits the best parameters on all train rows, logs params, CV
scores, times and the model (with its feature pipeline) to one MLflow run,
and writes its test predictions under the run folder. jobs/evaluate.py scores
and registers it. The MLflow server (MLFLOW_TRACKING_URI, else the embedded
one) is checked first: if it is down, the job fails at once.
"""

from __future__ import annotations

import sys

from mlflow.exceptions import MlflowException

from mqttids.learning import cli as learning_cli
from mqttids.learning import levels, spark_models, tracking
from mqttids.learning.artifacts import RunFolder
from mqttids.runtime import cli
from mqttids.runtime.spark import session


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/train_spark.py", __doc__)
    cli.add_run(p)
    learning_cli.add_tracking(p)
    p.add_argument("--model", required=True, choices=spark_models.MODELS, help="lr or rf")
    learning_cli.add_levels(p)
    learning_cli.add_tuning(p, example='{"rf": {"maxDepth": [25]}}')
    args = p.parse_args(argv)
    cli.setup_logging()
    try:
        todo = levels.built(RunFolder.of(args.run_id, args.artifacts), args.levels)
        client = tracking.connect()
    except (FileNotFoundError, tracking.TrackingUnavailable) as err:
        print(f"train_spark failed: {err}", file=sys.stderr)
        return 1
    spark = session(f"mqttids-train-{args.model}")
    try:
        for level, folder in todo:
            record = spark_models.train(
                spark,
                args.model,
                folder,
                args.grid,
                args.grid_file,
                args.tune_rows,
                args.folds,
                args.class_weight,
                client=client,
                key=tracking.RunKey(args.dag_id, args.run_id, args.model, level),
            )
            print(
                f"{levels.label(record.model, level)}: CV macro F1 {record.cv_score:.4f} with "
                f"{record.params}; MLflow run {record.mlflow_run_id}"
            )
    except MlflowException as err:
        print(f"train_spark failed: {learning_cli.mlflow_failure(err)}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as err:
        print(f"train_spark failed: {err}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
