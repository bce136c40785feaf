"""Training on distinct rows weighted by their copies fits the same model as training on every row."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import functions as F

from mqttids.learning import arrays, distinct, folds, spark_models, tuning
from mqttids.learning.metrics import MacroF1Evaluator, scores, spark_confusion


def _rows(rng: np.random.Generator, n: int = 6000) -> list[tuple]:
    """Rows with heavy duplication: 40 distinct (x1, x2) points, three classes, six CV groups."""
    points = rng.integers(0, 40, n)
    x1, x2 = points % 8, points // 8
    label = (x1 + x2 + rng.integers(0, 2, n)) % 3
    group = rng.integers(0, 6, n)
    columns = zip(x1, x2, label, group, strict=True)
    return [(float(a), float(b), f"c{int(c)}", float(c), None, int(g)) for a, b, c, g in columns]


@pytest.fixture(scope="module")
def train(spark):
    schema = "x1 double, x2 double, target string, label double, connection long, cv_group long"
    return spark.createDataFrame(_rows(np.random.default_rng(3)), schema).cache()


def test_collapse_counts_every_row_once_and_keeps_each_rows_fold(train):
    collapsed = distinct.collapse(train, ["x1", "x2"]).toPandas()
    original = train.toPandas()
    assert len(collapsed) <= 40 * 3 * 6
    assert collapsed[distinct.COPIES].sum() == len(original)
    for k in (3, 4, 5):
        before = original.groupby([original.cv_group % k, "target"]).size()
        after = collapsed.groupby([collapsed.cv_group % k, "target"])[distinct.COPIES].sum()
        assert before.sort_index().tolist() == after.sort_index().tolist()


def test_weighted_logistic_regression_on_distinct_rows_equals_the_all_rows_fit(spark, train):
    vector = F.udf(lambda a, b: Vectors.dense([a, b]), VectorUDT())
    every = train.withColumn("features", vector("x1", "x2")).withColumn("w", F.lit(1.0))
    collapsed = distinct.collapse(train, ["x1", "x2"]).withColumn("features", vector("x1", "x2"))
    weighted = collapsed.withColumn("w", F.col(distinct.COPIES).cast("double"))
    lr = LogisticRegression(family="multinomial", weightCol="w", tol=1e-10, maxIter=200, regParam=0.01)
    a, b = lr.fit(every), lr.fit(weighted)
    assert np.allclose(a.coefficientMatrix.toArray(), b.coefficientMatrix.toArray(), atol=1e-5)
    assert np.allclose(a.interceptVector.toArray(), b.interceptVector.toArray(), atol=1e-5)


def test_weighted_xgboost_on_distinct_rows_equals_the_all_rows_fit(train):
    every = train.toPandas()
    collapsed = distinct.collapse(train, ["x1", "x2"]).toPandas()
    params = {"objective": "multi:softprob", "num_class": 3, "tree_method": "hist", "seed": 7, "nthread": 1}
    full = xgb.train(params, xgb.DMatrix(every[["x1", "x2"]], label=every.label), num_boost_round=20)
    dm = xgb.DMatrix(collapsed[["x1", "x2"]], label=collapsed.label, weight=collapsed[distinct.COPIES])
    weighted = xgb.train(params, dm, num_boost_round=20)
    probe = xgb.DMatrix(every[["x1", "x2"]])
    assert np.allclose(full.predict(probe), weighted.predict(probe), atol=1e-5)


def test_scores_count_the_copies_of_a_distinct_row(spark, train):
    predicted = train.withColumn("prediction", F.lit(0.0))
    collapsed = distinct.collapse(train, ["x1", "x2"]).withColumn("prediction", F.lit(0.0))
    assert (spark_confusion(predicted) == spark_confusion(collapsed)).all()
    assert MacroF1Evaluator().evaluate(predicted) == MacroF1Evaluator().evaluate(collapsed)
    pdf = collapsed.toPandas()
    numpy = scores(pdf.label.to_numpy(), pdf.prediction.to_numpy(), pdf[distinct.COPIES].to_numpy())
    assert (numpy.matrix == spark_confusion(predicted)).all()


def test_thinning_distinct_rows_samples_like_thinning_every_row():
    rng = np.random.default_rng(0)
    copies = np.array([100_000, 3, 1, 0, 50])
    kept = np.stack([distinct.thin(copies, np.full(5, 0.1), rng) for _ in range(400)])
    assert (kept <= copies).all()
    assert kept[:, 0].mean() == pytest.approx(10_000, rel=0.01)
    assert kept[:, 0].std() == pytest.approx(np.sqrt(100_000 * 0.1 * 0.9), rel=0.15)
    assert (kept[:, 3] == 0).all()


def test_a_tuning_sample_of_distinct_rows_keeps_the_class_shares(spark, train):
    collapsed = distinct.collapse(train, ["x1", "x2"])
    sample = tuning.stratified_sample(collapsed, 1500, seed=7).toPandas()
    shares = sample.groupby("label")[distinct.COPIES].sum() / sample[distinct.COPIES].sum()
    expected = train.toPandas().groupby("label").size() / train.count()
    assert np.allclose(shares.sort_index(), expected.sort_index(), atol=0.08)
    assert 1200 < sample[distinct.COPIES].sum() < 1800


def test_the_spark_tuning_sample_weighs_the_copies_it_kept(train):
    collapsed = distinct.collapse(train, ["x1", "x2"]).withColumn("weight", F.lit(4.0))
    sample = spark_models.tuning_sample(collapsed, 1500, 3, "sqrt").toPandas()
    assert sample[distinct.COPIES].sum() < 0.5 * train.count()  # copies were thinned
    assert np.allclose(sample[spark_models.FIT_WEIGHT], 2.0 * sample[distinct.COPIES])  # sqrt(4) x kept
    assert set(sample[spark_models.FOLD]) == {0, 1, 2}


def test_the_trainers_read_distinct_rows_unless_told_all(tmp_path, monkeypatch):
    from mqttids.learning.artifacts import RunFolder

    folder = RunFolder(str(tmp_path))
    assert distinct.train_uri(folder) == folder.features("train")  # features written before distinct rows
    (tmp_path / "features" / f"{distinct.SPLIT}.parquet").mkdir(parents=True)
    assert distinct.train_uri(folder) == folder.features(distinct.SPLIT)
    monkeypatch.setenv("MQTTIDS_TRAIN_ROWS", "all")
    assert distinct.train_uri(folder) == folder.features("train")
    monkeypatch.setenv("MQTTIDS_TRAIN_ROWS", "some")
    with pytest.raises(ValueError, match="MQTTIDS_TRAIN_ROWS='some'"):
        distinct.train_uri(folder)


def test_array_batches_weigh_a_distinct_row_by_its_copies(spark, train, tmp_path):
    collapsed = distinct.collapse(train, ["x1", "x2"]).select(
        F.array(F.col("x1").cast("float"), F.col("x2").cast("float")).alias("x"),
        "label",
        F.lit(4.0).alias("weight"),
        folds.GROUP,
        distinct.COPIES,
    )
    collapsed.write.parquet(str(tmp_path / "d.parquet"))
    rows = next(arrays.batches(str(tmp_path / "d.parquet"), 2, "sqrt", rows=10_000))
    assert np.allclose(rows.w, 2.0 * rows.copies)
    assert rows.copies.sum() == train.count()
