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

from mqttids.learning import cli as learning_cli
from mqttids.learning import xgb_models
from mqttids.runtime import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/train_xgb.py", __doc__)
    cli.add_run(p)
    learning_cli.add_tracking(p)
    learning_cli.add_levels(p)
    learning_cli.add_tuning(p, example='{"xgb": {"max_depth": [8]}}')
    args = p.parse_args(argv)
    cli.setup_logging()
    return learning_cli.train_each("train_xgb", args, xgb_models.MODELS, xgb_models.train)


if __name__ == "__main__":
    sys.exit(main())
