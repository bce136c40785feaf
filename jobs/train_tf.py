"""Train the Keras networks (Task III): deep-narrow and wide, cross-validated.

    spark-submit jobs/train_tf.py --run-id manual_1 --models dnn_narrow,dnn_wide

Reads the run's features Parquet (jobs/features.py) of each feature level
(--levels; default: every level the features step built), chooses each network's
depth, width, optimizer, learning rate and activation by stratified k-fold
cross-validation with early stopping, trains the winner on the whole train
split streamed through tf.data, logs params, CV scores, times and the model
(Keras flavor, feature pipeline beside it) to one MLflow run per network,
checks that the model loaded back from MLflow predicts like the trained one,
and writes its test predictions. No Spark is started: spark-submit only
places the process. The MLflow server is checked first: if it is down, the
job fails at once.
"""

from __future__ import annotations

import sys

from mqttids.learning import cli as learning_cli
from mqttids.learning import tf_models
from mqttids.runtime import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("spark-submit jobs/train_tf.py", __doc__)
    cli.add_run(p)
    learning_cli.add_tracking(p)
    p.add_argument(
        "--models",
        default=",".join(tf_models.MODELS),
        help=f"comma-separated networks to train (default: {','.join(tf_models.MODELS)})",
    )
    learning_cli.add_levels(p)
    learning_cli.add_tuning(p, example='{"dnn_wide": {"width": [128]}}')
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or set(models) - set(tf_models.MODELS):
        p.error(f"--models: choose from {', '.join(tf_models.MODELS)}")
    cli.setup_logging()
    return learning_cli.train_each("train_tf", args, models, tf_models.train)


if __name__ == "__main__":
    sys.exit(main())
