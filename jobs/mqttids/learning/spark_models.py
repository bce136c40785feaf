"""Spark ML models (Task III): logistic regression and random forest, cross-validated.

Both tune with CrossValidator (k folds, macro F1) on a stratified sample of the
train features, then fit the chosen parameters on the whole train split, so a
14M-row split costs one full fit per model, not one per candidate and fold.
The model is logged to the trainer's MLflow run in the Spark ML flavor, as
one PipelineModel: the fitted feature pipeline, then the classifier, so a
loaded ``models:/...`` takes raw packet columns. Its test predictions (label,
prediction, unseen) go to the run folder's Parquet for the evaluator.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from pyspark.ml import Model, PipelineModel
from pyspark.ml.classification import (
    LogisticRegression,
    LogisticRegressionModel,
    RandomForestClassificationModel,
    RandomForestClassifier,
)
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mqttids.learning import distinct, features, grids, tracking
from mqttids.learning.artifacts import RunFolder, read_json
from mqttids.learning.folds import check_folds, fold_of
from mqttids.learning.metrics import MacroF1Evaluator
from mqttids.learning.tuning import FOLDS, WEIGHTINGS, Stopwatch, TrainingRecord, stratified_sample

log = logging.getLogger(__name__)

MODELS = grids.SPARK_MODELS
SEED = 7
FIT_WEIGHT = "fit_weight"
FOLD = "fold"


def with_fit_weight(train: DataFrame, weighting: str) -> DataFrame:
    """Each row's loss weight: its class's balanced weight to the power the weighting names,
    times the train rows it stands for (:mod:`mqttids.learning.distinct`)."""
    power = F.pow(F.col("weight"), F.lit(WEIGHTINGS[weighting]))
    return train.withColumn(FIT_WEIGHT, power * distinct.copies_of(train))


def estimator(name: str, columns: list[str]):
    """The untuned estimator on features with these columns: LR reads the standardised vector
    (with its quantile bins, when the features have them), trees the raw one."""
    common = {"labelCol": "label", "weightCol": FIT_WEIGHT}
    if name == "lr":
        return LogisticRegression(featuresCol=features.lr_input(columns), family="multinomial", **common)
    if name == "rf":
        return RandomForestClassifier(featuresCol="features", seed=SEED, **common)
    raise ValueError(f"unknown Spark model {name!r}: choose from {', '.join(MODELS)}")


def load(name: str, uri: str) -> Model:
    return {"lr": LogisticRegressionModel, "rf": RandomForestClassificationModel}[name].load(uri)


def log_model(model: Model, folder: RunFolder, meta: dict) -> None:
    """The feature pipeline and the classifier as one Spark ML model, in the active MLflow run."""
    import mlflow.spark

    served = PipelineModel(stages=[*features.load_pipeline(folder.pipeline).stages, model])
    mlflow.spark.log_model(
        served,
        "model",
        input_example=pd.DataFrame(meta["input_example"]),
        pip_requirements=tracking.pip_requirements("pyspark"),
    )


def _param_maps(est, model_grid: dict[str, list[Any]]):
    builder = ParamGridBuilder()
    for key, values in model_grid.items():
        builder = builder.addGrid(est.getParam(key), values)
    return builder.build()


def tuning_sample(rows: DataFrame, tune_rows: int, folds: int, weighting: str) -> DataFrame:
    """The CV sample of the train ``rows``, with its fold and its fit weights.

    Weighed after sampling: a distinct row's copies are thinned by the sample, and its weight
    must count the copies it kept (weighed before, a row of 3,000 copies that kept 5 still
    weighed 3,000: at 20M rows, a few such rows outweighed the rest of the sample).
    Folds are by connection or capture (:mod:`mqttids.learning.folds`): none is on both sides of
    a fold. As many partitions as cores: a sample keeps every partition of the split it came from,
    and each pass of a tree merges split statistics from every partition, however few rows it has.
    """
    cores = rows.sparkSession.sparkContext.defaultParallelism
    sample = stratified_sample(rows, tune_rows, seed=SEED).coalesce(cores)
    return with_fit_weight(sample, weighting).withColumn(FOLD, fold_of(folds))


def predictions(model: Model, test: DataFrame) -> DataFrame:
    return model.transform(test).select("target", "label", "prediction", "unseen")


def train(
    spark: SparkSession,
    name: str,
    folder: RunFolder,
    size: str = "quick",
    grid_file: str | None = None,
    tune_rows: int = 50_000,
    folds: int = FOLDS,
    weighting: str = "sqrt",
    *,
    client,
    key: tracking.RunKey,
) -> TrainingRecord:
    """Tune ``name`` by k-fold CV, fit it on all train rows, log it to MLflow, write its predictions."""
    meta = read_json(folder.features_meta)
    with tracking.start_run(client, key, "spark", meta) as run:
        record, model = _train(spark, name, folder, size, grid_file, tune_rows, folds, weighting)
        record.mlflow_run_id = run.info.run_id
        tracking.log_training(record.as_dict(), record.candidates, meta)
        log_model(model, folder, meta)
    log.info("%s: logged to MLflow run %s", name, run.info.run_id)
    return record


def _train(spark, name, folder, size, grid_file, tune_rows, folds, weighting) -> tuple[TrainingRecord, Model]:
    """Cross-validate, fit the winner on all train rows and write its test predictions."""
    rows = spark.read.parquet(distinct.train_uri(folder))
    est = estimator(name, rows.columns)
    model_grid = grids.grid(name, size, grid_file)
    maps = _param_maps(est, model_grid)
    train_df = with_fit_weight(rows, weighting)
    log.info(
        "%s: class weighting %s (balanced weights to the power %s)", name, weighting, WEIGHTINGS[weighting]
    )
    sample = tuning_sample(rows, tune_rows, folds, weighting).cache()
    tune_count, tune_distinct = distinct.rows_in(sample), sample.count()
    check_folds(sample.select(FOLD).distinct().count(), folds)
    log.info(
        "%s: %d candidates x %d folds on %s rows (%s distinct)",
        name,
        len(maps),
        folds,
        f"{tune_count:,}",
        f"{tune_distinct:,}",
    )
    clock = Stopwatch()
    cv = CrossValidator(
        estimator=est,
        estimatorParamMaps=maps,
        evaluator=MacroF1Evaluator(),
        numFolds=folds,
        foldCol=FOLD,
        seed=SEED,
        parallelism=2,
    ).fit(sample)
    cv_seconds = clock.seconds()
    best = max(range(len(maps)), key=lambda i: cv.avgMetrics[i])
    params = {p.name: v for p, v in maps[best].items()}
    candidates = [
        {"params": {p.name: v for p, v in m.items()}, "score": float(cv.avgMetrics[i])}
        for i, m in enumerate(maps)
    ]
    for c in candidates:
        log.info("%s candidate %s: CV macro F1 %.4f", name, c["params"], c["score"])
    sample.unpersist()
    log.info("%s: best %s (CV macro F1 %.4f); fitting on all train rows", name, params, cv.avgMetrics[best])
    clock = Stopwatch()
    model = est.copy(maps[best]).fit(train_df)
    fit_seconds = clock.seconds()
    test_df = spark.read.parquet(folder.features("test"))
    predictions(model, test_df).write.mode("overwrite").parquet(folder.predictions(name))
    record = TrainingRecord(
        model=name,
        kind="spark",
        params={**params, "class_weight": weighting},
        grid=model_grid,
        cv_metric="macro_f1",
        cv_score=float(cv.avgMetrics[best]),
        cv_folds=folds,
        cv_seconds=cv_seconds,
        fit_seconds=fit_seconds,
        tune_rows=tune_count,
        train_rows=distinct.rows_in(train_df),
        candidates=candidates,
    )
    log.info("%s: CV %.0f s, final fit %.0f s", name, cv_seconds, fit_seconds)
    return record, model
