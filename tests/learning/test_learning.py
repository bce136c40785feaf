"""The learning stage on real Spark, TensorFlow and PostgreSQL, on small generated data.

One small generated batch is loaded as ingest loads it; the features step, every
trainer and the evaluator then run on it, each as the DAG runs it (library
calls with the same arguments), and the tests check what they wrote: Parquet,
models, registry rows, plots and champion decisions.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import evaluate as evaluate_cli  # jobs/evaluate.py
import numpy as np
import pyarrow.dataset as ds
import pytest
import train_spark as train_spark_cli  # jobs/train_spark.py
from pyspark.ml.feature import StandardScalerModel, StringIndexerModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from mqttids.ingest import loading, sources
from mqttids.learning import champion, evaluation, features, registry, spark_models, tf_models
from mqttids.learning.artifacts import RunFolder, read_json
from mqttids.sample import generator
from mqttids.schema import LABELS
from mqttids.warehouse.batches import BatchRange

DAY = date(1998, 1, 1)
ROWS = 4000
RUN_ID = "learning_test_run"
# One candidate per model keeps the test quick; cross-validation still runs 3 folds.
TINY_GRIDS = {
    "lr": {"regParam": [0.0, 0.01], "maxIter": [50]},
    "rf": {"numTrees": [10], "maxDepth": [8]},
    "dnn_narrow": {"depth": [2], "width": [16], "learning_rate": [3e-3]},
}
UNSEEN_FLAGS = 0xFFF  # a tcp.flags value the generator never writes


@pytest.fixture(scope="module")
def batch(spark, db_url, generate, tmp_path_factory) -> BatchRange:
    out = tmp_path_factory.mktemp("learning-sample")
    generate("--out", str(out), "--rows", str(ROWS), "--seed", "11")
    inputs = [sources.resolve(spark, split, str(out / name)) for split, name in generator.FILES.items()]
    loading.load_batch(spark, inputs, db_url, DAY)
    return BatchRange.single(DAY)


@pytest.fixture(scope="module")
def packets(spark, db_url, batch):
    """The batch as the features step reads it, plus one test row with a flag train never has."""
    rows = features.read_packets(spark, db_url, batch)
    odd = rows.where("split = 'test'").limit(1).withColumn("tcp_flags", F.lit(UNSEEN_FLAGS))
    return rows.unionByName(odd).cache()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> RunFolder:
    return RunFolder.of(RUN_ID, str(tmp_path_factory.mktemp("artifacts")))


@pytest.fixture(scope="module")
def summary(spark, packets, folder, batch) -> features.FeatureSummary:
    return features.build(spark, packets, RUN_ID, folder, batch)


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("grids") / "tiny.json"
    path.write_text(json.dumps(TINY_GRIDS))
    return str(path)


@pytest.fixture(scope="module")
def trained(spark, summary, folder, grid_file) -> dict:
    records = {
        name: spark_models.train(spark, name, folder, "quick", grid_file, tune_rows=2000)
        for name in spark_models.MODELS
    }
    records["dnn_narrow"] = tf_models.train("dnn_narrow", folder, "quick", grid_file, tune_rows=2000)
    return records


@pytest.fixture(scope="module")
def evaluated(db_url, trained, folder):
    return evaluation.evaluate(db_url, RUN_ID, folder, ["lr", "rf", "dnn_narrow", "dnn_wide"])


# --- features -------------------------------------------------------------------------
def test_scaler_and_indexers_see_train_rows_only(spark, summary, packets, folder):
    model = features.load_pipeline(folder.pipeline)
    scaler = next(s for s in model.stages if isinstance(s, StandardScalerModel))
    train = spark.read.parquet(folder.features("train"))
    train_mean = np.array(train.select(vector_to_array("features").alias("v")).toPandas()["v"].tolist()).mean(
        axis=0
    )
    np.testing.assert_allclose(scaler.mean.toArray(), train_mean, rtol=1e-9, atol=1e-9)

    everything = model.transform(packets.withColumn("label", features.label_column()))
    all_mean = np.array(
        everything.select(vector_to_array("features").alias("v")).toPandas()["v"].tolist()
    ).mean(axis=0)
    assert not np.allclose(scaler.mean.toArray(), all_mean), "train+test mean equals the train mean"

    indexer = next(s for s in model.stages if isinstance(s, StringIndexerModel))
    flag_labels = indexer.labelsArray[indexer.getInputCols().index("tcp_flags")]
    assert str(UNSEEN_FLAGS) not in flag_labels  # seen only in test: not indexed


def test_value_unseen_in_train_gets_the_unknown_slot_and_is_marked_unseen(spark, summary, packets, folder):
    model = features.load_pipeline(folder.pipeline)
    indexer = next(s for s in model.stages if isinstance(s, StringIndexerModel))
    unknown_slot = len(indexer.labelsArray[indexer.getInputCols().index("tcp_flags")])
    labelled = packets.withColumn("label", features.label_column())
    odd = model.transform(labelled.where(F.col("tcp_flags") == UNSEEN_FLAGS)).first()["tcp_flags_vec"]
    assert list(odd.indices) == [unknown_slot]
    train = model.transform(labelled.where("split = 'train'")).select("tcp_flags_vec").collect()
    assert all(unknown_slot not in r["tcp_flags_vec"].indices for r in train)
    rows = spark.read.parquet(folder.features("test"))
    assert rows.count() == summary.test_rows
    assert rows.where("unseen").count() == summary.unseen_test_rows >= 1
    assert summary.test_rows == packets.where("split = 'test'").count()


def test_constant_and_duplicate_columns_are_found_from_the_data(packets):
    train = packets.where("split = 'train'").withColumn("mqtt_retain", F.col("mqtt_dupflag"))
    decisions = {d.column: d for d in features.choose_columns(train)}
    assert decisions["mqtt_willmsg"].action == "dropped"
    assert decisions["mqtt_willmsg"].reason.startswith("constant on train")
    assert decisions["mqtt_retain"].action == "dropped"
    assert decisions["mqtt_retain"].reason == "same information as mqtt_dupflag (one-to-one on train)"
    assert decisions["mqtt_dupflag"].action == "kept"
    assert decisions["tcp_len"].action == "kept"
    assert decisions["mqtt_msg"].action == "dropped"


def test_features_meta_records_every_column(summary, folder):
    meta = read_json(folder.features_meta)
    assert {c["column"] for c in meta["columns"]} == set(features.CANDIDATES) | {"mqtt_msg"}
    assert meta["train_rows"] + meta["test_rows"] == ROWS + 1
    assert set(meta["class_weights"]) == set(LABELS)


# --- trainers, evaluation, registry ---------------------------------------------------
def _count(conn, sql: str, *args) -> int:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def test_every_model_writes_all_registry_tables(evaluated, summary, folder, db_conn):
    results, _ = evaluated
    assert {r.model for r in results} == {"lr", "rf", "dnn_narrow"}  # dnn_wide was not trained: skipped
    for r in results:
        runs = _count(
            db_conn,
            f"SELECT count(*) FROM {registry.MODEL_RUNS} WHERE run_id = %s AND model = %s",
            RUN_ID,
            r.model,
        )
        assert runs == 1
        overall = _count(
            db_conn,
            f"SELECT count(*) FROM {registry.MODEL_METRICS} "
            f"WHERE run_id = %s AND model = %s AND label = 'all'",
            RUN_ID,
            r.model,
        )
        assert overall == 2 * 4  # accuracy, macro F1, weighted F1, rows; for test and unseen
        per_class = _count(
            db_conn,
            f"SELECT count(*) FROM {registry.MODEL_METRICS} "
            f"WHERE run_id = %s AND model = %s AND metric = 'recall' "
            "AND subset = 'test'",
            RUN_ID,
            r.model,
        )
        assert per_class == len(LABELS)
        cells = _count(
            db_conn,
            f"SELECT sum(rows) FROM {registry.CONFUSION} "
            f"WHERE run_id = %s AND model = %s AND subset = 'test'",
            RUN_ID,
            r.model,
        )
        assert cells == summary.test_rows
        png = Path(folder.plot(f"confusion_{r.model}"))
        assert png.read_bytes().startswith(b"\x89PNG")
    columns = _count(db_conn, f"SELECT count(*) FROM {registry.FEATURE_COLUMNS} WHERE run_id = %s", RUN_ID)
    assert columns == len(features.CANDIDATES) + 1


def test_stored_metrics_agree_with_the_predictions(evaluated, folder, db_conn):
    table = ds.dataset(folder.predictions("rf"), format="parquet").to_table().to_pandas()
    accuracy = float((table["label"] == table["prediction"]).mean())
    with db_conn.cursor() as cur:
        cur.execute(
            f"SELECT value FROM {registry.MODEL_METRICS} "
            f"WHERE run_id = %s AND model = 'rf' AND subset = 'test' "
            "AND metric = 'accuracy'",
            (RUN_ID,),
        )
        assert cur.fetchone()[0] == pytest.approx(accuracy)


def test_reevaluating_a_run_replaces_its_rows(evaluated, db_url, folder, db_conn):
    before = _count(db_conn, f"SELECT count(*) FROM {registry.MODEL_METRICS} WHERE run_id = %s", RUN_ID)
    evaluation.evaluate(db_url, RUN_ID, folder, ["lr", "rf", "dnn_narrow"])
    assert (
        _count(db_conn, f"SELECT count(*) FROM {registry.MODEL_METRICS} WHERE run_id = %s", RUN_ID) == before
    )


def test_record_names_the_chosen_params_and_cv_score(trained):
    rf = trained["rf"]
    assert {k: rf.params[k] for k in ("numTrees", "maxDepth", "maxBins")} == {
        "numTrees": 10,
        "maxDepth": 8,
        "maxBins": 64,
    }
    assert rf.params["featureSubsetStrategy"] in ("onethird", "0.5")
    assert rf.params["class_weight"] == "sqrt"
    assert 0 < rf.cv_score <= 1 and rf.cv_folds == 3
    lr = trained["lr"]
    assert lr.params["regParam"] in (0.0, 0.01)


def test_keras_model_reloads_with_identical_predictions(trained, summary, folder):
    import keras

    model = keras.models.load_model(folder.model("dnn_narrow", keras=True))
    probs, labels = tf_models.predict(model, folder.features("test"), summary.feature_size)
    stored = ds.dataset(folder.predictions("dnn_narrow"), format="parquet").to_table().to_pandas()
    np.testing.assert_array_equal(probs.argmax(axis=1), stored["prediction"].to_numpy().astype(int))
    np.testing.assert_array_equal(labels, stored["label"].to_numpy().astype(int))


# --- champion / challenger ------------------------------------------------------------
def _decide(conn, slot, run_id, f1, fingerprint="fp1", rescore=None):
    challenger = champion.Contender(run_id, "rf", f1, fingerprint)
    return champion.challenge(
        conn, challenger, rescore or (lambda c: pytest.fail("no re-score expected")), slot
    )


def test_champion_refuses_a_worse_challenger_and_promotes_a_better_one(db_conn, db_url):
    slot = "test_promotion"
    assert _decide(db_conn, slot, "run_a", 0.70).promoted
    worse = _decide(db_conn, slot, "run_b", 0.65)
    assert not worse.promoted and "does not beat" in worse.reason
    with db_conn.cursor() as cur:
        assert champion.current(cur, slot).run_id == "run_a"
    better = _decide(db_conn, slot, "run_c", 0.75)
    assert better.promoted and "beats the champion's 0.7000" in better.reason
    with db_conn.cursor() as cur:
        assert champion.current(cur, slot).run_id == "run_c"
        cur.execute(
            f"SELECT run_id, promoted FROM {champion.DECISIONS} WHERE slot = %s ORDER BY decided_at", (slot,)
        )
        assert cur.fetchall() == [("run_a", True), ("run_b", False), ("run_c", True)]


def test_champion_is_rescored_on_the_challengers_test_data(db_conn):
    slot = "test_rescore"
    _decide(db_conn, slot, "run_a", 0.90, fingerprint="old")
    asked = []

    def rescore(holder):
        asked.append(holder.run_id)
        return 0.60  # on the new test rows the champion is much worse than its stored 0.90

    decision = _decide(db_conn, slot, "run_b", 0.70, fingerprint="new", rescore=rescore)
    assert asked == ["run_a"]
    assert decision.promoted and decision.champion.macro_f1 == 0.60


@pytest.mark.parametrize("model", ["rf", "dnn_narrow"])
def test_rescoring_a_saved_model_reproduces_its_registered_score(evaluated, db_url, folder, model):
    """The champion re-score path: saved pipeline + saved model on the raw test rows from PostgreSQL."""
    results, _ = evaluated
    registered = next(r for r in results if r.model == model).test.macro_f1
    meta = read_json(folder.features_meta)
    holder = champion.Contender(RUN_ID, model, 0.0, "other test rows")
    # The odd row added in the packets fixture is not in PostgreSQL: allow its one row of difference.
    assert evaluation.rescore_champion(db_url, meta, folder, holder) == pytest.approx(registered, abs=0.01)


def test_champion_that_cannot_be_rescored_is_kept(db_conn):
    slot = "test_rescore_fails"
    _decide(db_conn, slot, "run_a", 0.60, fingerprint="old")

    def rescore(holder):
        raise FileNotFoundError("gs://bucket/runs/run_a/models/rf")

    decision = _decide(db_conn, slot, "run_b", 0.99, fingerprint="new", rescore=rescore)
    assert not decision.promoted and "could not be re-scored" in decision.reason
    with db_conn.cursor() as cur:
        assert champion.current(cur, slot).run_id == "run_a"


def test_evaluate_registers_a_champion(evaluated, db_conn):
    results, decision = evaluated
    best = max(results, key=lambda r: r.test.macro_f1)
    with db_conn.cursor() as cur:
        holder = champion.current(cur)
    assert holder is not None
    if decision.promoted:
        assert (holder.run_id, holder.model) == (RUN_ID, best.model)


# --- command lines --------------------------------------------------------------------
def test_trainer_without_features_fails_clearly(tmp_path, capsys):
    code = train_spark_cli.main(["--run-id", "nothing_here", "--artifacts", str(tmp_path), "--model", "rf"])
    assert code == 1
    assert "run jobs/features.py first" in capsys.readouterr().err


def test_evaluate_rejects_unknown_models(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_cli.main(["--run-id", "x", "--artifacts", str(tmp_path), "--models", "svm"])
    assert exit_info.value.code == 2
