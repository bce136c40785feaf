"""Tiny champions of the three feature levels, trained on the capture corpus.

Each is what the learning stage registers (tests/learning checks the trainers themselves): the
feature stages it builds (string indexers and one-hot encoders for the categorical columns the
features step keeps, an assembler, a standard scaler) and a random forest, fitted on the corpus
train split (its packets, each packet in its connection so far, or its connection windows),
logged as one Spark ML model in an MLflow run tagged with its level, registered as
``mqtt_ids_<level>`` with ``mqttids.kind = spark`` and given the ``@champion`` alias. Fitting
one small forest per level by hand keeps the session fixture to seconds.
"""

from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path

from pyspark.ml import Pipeline
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler

from mqttids.connection.features import (
    CONNECTION_FEATURES,
    CONTEXT_FEATURES,
    connection_windows,
    packet_context,
    window_seconds,
)
from mqttids.detection import champions
from mqttids.learning import features, tracking, xgb_models
from mqttids.warehouse.batches import BatchRange


def feature_stages(kept: list[str]) -> Pipeline:
    """The feature pipeline alone: what a Keras or XGBoost champion's run keeps beside its model."""
    categorical = [c for c in kept if c in features.NAMES and features.is_categorical(c)]
    numeric = [c for c in kept if c not in categorical]
    encoders = [
        StringIndexer(
            inputCols=categorical, outputCols=[f"{c}_idx" for c in categorical], handleInvalid="keep"
        ),
        OneHotEncoder(
            inputCols=[f"{c}_idx" for c in categorical],
            outputCols=[f"{c}_vec" for c in categorical],
            handleInvalid="keep",
        ),
    ]
    return Pipeline(
        stages=[
            *(encoders if categorical else []),  # connection windows have numeric columns only
            VectorAssembler(inputCols=numeric + [f"{c}_vec" for c in categorical], outputCol="features"),
            StandardScaler(inputCol="features", outputCol="features_scaled", withMean=True, withStd=True),
        ]
    )


def _pipeline(kept: list[str]) -> Pipeline:
    forest = RandomForestClassifier(featuresCol="features", labelCol="label", numTrees=8, maxDepth=6, seed=7)
    return Pipeline(stages=[*feature_stages(kept).getStages(), forest])


# Each flavour's packages, pinned as the trainers pin them: without them MLflow infers the
# requirements by loading the model in a fresh interpreter (for Spark, a second JVM): 16-18 s a
# Spark model against 0.7 s pinned, measured side by side beside a running pipeline.
PACKAGES = {"spark": ("pyspark",), "xgboost": (xgb_models.PACKAGE,), "keras": ("tensorflow", "keras")}


def register(
    client, model, level: str, kind: str = "spark", pipeline: Path | None = None, reads: str | None = None
) -> str:
    """Log ``model`` (in the MLflow flavour named by ``kind``: spark, xgboost or keras) in a run of
    its level, with the feature ``pipeline`` folder beside it for a non-Spark model; register it
    as the level's model, tag its kind (and the vector it ``reads``, if given), make it @champion.
    Returns its version."""
    import mlflow

    experiment = client.create_experiment(f"detection-tests-{level}-{kind}")
    with mlflow.start_run(experiment_id=experiment, tags={"mqttids.feature_level": level}) as run:
        flavour = importlib.import_module(f"mlflow.{kind}")
        flavour.log_model(model, "model", pip_requirements=tracking.pip_requirements(*PACKAGES[kind]))
        if pipeline is not None:
            mlflow.log_artifacts(str(pipeline), champions.FEATURE_PIPELINE)
    name = champions.registered_name(level)
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    client.set_model_version_tag(name, version.version, champions.TAG_KIND, kind)
    if reads:
        client.set_model_version_tag(name, version.version, champions.TAG_INPUT, reads)
    client.set_registered_model_alias(name, champions.ALIAS, version.version)
    return str(version.version)


def corpus_train(spark, db_url: str, day: date):
    """The corpus batch ``day``'s train packets with their label, and the columns features keeps."""
    packets = features.read_packets(spark, db_url, BatchRange.single(day))
    train = packets.where("split = 'train'").withColumn("label", features.label_column()).cache()
    return train, [d.column for d in features.choose_columns(train) if d.action == "kept"]


def train_champions(spark, db_url: str, day: date, client) -> dict[str, str]:
    """{level: registered version} of every level, trained on the corpus batch ``day``."""
    train, kept = corpus_train(spark, db_url, day)
    versions = {"packet": register(client, _pipeline(kept).fit(train), "packet")}
    context = packet_context(train)
    versions["packet_context"] = register(
        client, _pipeline(kept + list(CONTEXT_FEATURES)).fit(context), "packet_context"
    )
    windows = connection_windows(train, window_seconds()).withColumn("label", features.label_column())
    versions["connection"] = register(client, _pipeline(list(CONNECTION_FEATURES)).fit(windows), "connection")
    train.unpersist()
    return versions
