"""The numpy export runs learning's own feature pipeline (quantile bins included) as Spark does.

The champions of tests/detection's fixture are small forests over a hand-built pipeline; these
tests fit the features step's real pipeline and a logistic regression on its binned vector, as
the trainer does, and compare the numpy probabilities with Spark's own.
"""

from __future__ import annotations

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import Bucketizer
from pyspark.ml.functions import vector_to_array

from detection.training import corpus_train
from mqttids.detection import local_model
from mqttids.detection.local_model import LocalModel, padded
from mqttids.learning import features
from mqttids.schema import LABELS
from mqttids.warehouse.batches import BatchRange


def test_buckets_equal_sparks_at_splits_outside_them_and_for_nan(spark, tmp_path):
    splits = [float("-inf"), 0.0, 2.5, 10.0, float("inf")]
    values = [-7.0, 0.0, 1.0, 2.5, 9.99, 10.0, 1e12, float("inf"), float("nan")]
    frame = spark.createDataFrame([(v,) for v in values], "x double")
    fitted = Bucketizer(splitsArray=[splits], inputCols=["x"], outputCols=["b"], handleInvalid="keep")
    PipelineModel(stages=[fitted]).write().save(str(tmp_path / "pipeline"))
    want = [r.b for r in fitted.transform(frame).collect()]

    stage = local_model._stage_dirs(tmp_path / "pipeline")[0]
    ours = local_model.Bucketizer.read(local_model._metadata(stage), stage)
    columns = {"x": np.array(values)}
    ours.apply(columns)
    assert list(columns["b"]) == want == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]


def test_a_logistic_regression_on_binned_features_scores_as_in_spark(spark, db_url, corpus_packets, tmp_path):
    train, kept = corpus_train(spark, db_url, corpus_packets)
    stages = features.build_pipeline(kept, 16).getStages()
    assert any(type(s).__name__ == "QuantileDiscretizer" for s in stages)
    lr = LogisticRegression(featuresCol="features_binned", labelCol="label", family="multinomial", maxIter=50)
    model = Pipeline(stages=[*stages, lr]).fit(train)
    model.write().save(str(tmp_path / "lr"))
    test = features.read_packets(spark, db_url, BatchRange.single(corpus_packets)).where("split = 'test'")
    test = test.orderBy("connection_id", "connection_seq").limit(400)
    scored = model.transform(test).select(vector_to_array("probability").alias("p"))
    want = np.array([r.p for r in scored.collect()])
    got = LocalModel.read(tmp_path / "lr").probabilities([r.asDict() for r in test.collect()])
    np.testing.assert_allclose(got, padded(want), rtol=0, atol=1e-9)
    assert len({row.argmax() for row in got}) > 1  # the model tells classes apart, not a constant
    train.unpersist()


def test_a_network_reads_the_vector_it_was_trained_on(spark, db_url, corpus_packets, tmp_path):
    """A Keras champion of the packet level reads the binned vector: the export hands it that one."""
    train, kept = corpus_train(spark, db_url, corpus_packets)
    fitted = features.build_pipeline(kept, 16).fit(train)
    train.unpersist()
    fitted.write().save(str(tmp_path / "pipeline"))
    test = features.read_packets(spark, db_url, BatchRange.single(corpus_packets)).where("split = 'test'")
    test = test.orderBy("connection_id", "connection_seq").limit(200)
    made = fitted.transform(test)
    binned = np.array([r.x for r in made.select(vector_to_array(features.BINNED).alias("x")).collect()])
    scaled_size = made.select("features_scaled").first()[0].size
    assert binned.shape[1] > scaled_size
    weights = np.random.default_rng(7).normal(size=(binned.shape[1], len(LABELS)))

    def network(x: np.ndarray) -> np.ndarray:  # a fixed softmax layer, as a network's last one
        z = np.exp(x @ weights)
        return z / z.sum(axis=1, keepdims=True)

    rows = [r.asDict() for r in test.collect()]
    got = LocalModel.read(tmp_path / "pipeline", network=network, reads=features.BINNED).probabilities(rows)
    np.testing.assert_allclose(got, padded(network(binned.astype(np.float32))), rtol=1e-5, atol=1e-9)
