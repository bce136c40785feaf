"""The learning stage on real Spark, TensorFlow, PostgreSQL and a real MLflow server.

One small generated batch is loaded as ingest loads it; the features step, every
trainer and the evaluator then run on it, each as the DAG runs it (library
calls with the same arguments), and the tests check what they wrote: Parquet,
MLflow runs, registered versions and the @champion alias (read back through
MlflowClient), warehouse rows and champion decisions.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import evaluate as evaluate_cli  # jobs/evaluate.py
import numpy as np
import pyarrow.dataset as ds
import pytest
import train_spark as train_spark_cli  # jobs/train_spark.py
from pyspark.ml.feature import StandardScalerModel, StringIndexerModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from mqttids.ingest import loading, sources
from mqttids.learning import (
    champion,
    distinct,
    evaluation,
    features,
    folds,
    registry,
    spark_models,
    tf_models,
    tracking,
)
from mqttids.learning.artifacts import RunFolder, read_json
from mqttids.learning.metrics import spark_confusion
from mqttids.sample import generator
from mqttids.schema import LABELS
from mqttids.warehouse.batches import BatchRange
from mqttids_airflow import code_package

DAY = date(1998, 1, 1)
ROWS = 4000
RUN_ID = "learning_test_run"
DAG = "learning_test_dag"
MODEL = "test_mqtt_ids_packet"
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
def client(mlflow_server):
    return tracking.connect(mlflow_server["uri"])


def _key(model: str, dag: str = DAG) -> tracking.RunKey:
    return tracking.RunKey(dag, RUN_ID, model)


@pytest.fixture(scope="module")
def trained(spark, summary, folder, grid_file, client) -> dict:
    records = {
        name: spark_models.train(
            spark, name, folder, "quick", grid_file, tune_rows=2000, client=client, key=_key(name)
        )
        for name in spark_models.MODELS
    }
    records["dnn_narrow"] = tf_models.train(
        "dnn_narrow", folder, "quick", grid_file, tune_rows=2000, client=client, key=_key("dnn_narrow")
    )
    return records


@pytest.fixture(scope="module")
def evaluated(db_url, trained, folder, client):
    return evaluation.evaluate(
        db_url,
        RUN_ID,
        folder,
        ["lr", "rf", "dnn_narrow", "dnn_wide"],
        client=client,
        dag_id=DAG,
        registered=MODEL,
    )


# --- features -------------------------------------------------------------------------
def test_scaler_and_indexers_see_train_rows_only(spark, summary, packets, folder):
    model = features.load_pipeline(folder.pipeline)
    scaler = next(s for s in model.stages if isinstance(s, StandardScalerModel))
    # The scaler's input: the numeric columns' signed log1p, then the one-hot columns.
    train = model.transform(packets.where("split = 'train'").withColumn("label", features.label_column()))
    train_mean = np.array(
        train.select(vector_to_array(scaler.getInputCol()).alias("v")).toPandas()["v"].tolist()
    ).mean(axis=0)
    np.testing.assert_allclose(scaler.mean.toArray(), train_mean, rtol=1e-9, atol=1e-9)

    everything = model.transform(packets.withColumn("label", features.label_column()))
    all_mean = np.array(
        everything.select(vector_to_array(scaler.getInputCol()).alias("v")).toPandas()["v"].tolist()
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


def test_distinct_train_rows_stand_for_every_train_row_in_its_fold(spark, summary, folder):
    every = spark.read.parquet(folder.features("train"))
    rows = spark.read.parquet(folder.features(distinct.SPLIT))
    assert summary.distinct_train_rows == rows.count() < summary.train_rows
    assert rows.agg(F.sum(distinct.COPIES)).first()[0] == summary.train_rows
    for table in (every, rows):  # each distinct input vector, class and CV group once
        key = table.select(vector_to_array("features"), "target", folds.GROUP)
        assert key.distinct().count() == summary.distinct_train_rows
    before = every.groupBy(F.col(folds.GROUP) % 3, "target").count().collect()
    after = rows.groupBy(F.col(folds.GROUP) % 3, "target").agg(F.sum(distinct.COPIES)).collect()
    assert sorted(map(tuple, before)) == sorted(map(tuple, after))


# --- trainers, evaluation, MLflow tracking, warehouse tables ----------------------------
def _count(conn, sql: str, *args) -> int:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def _result(evaluated, model: str):
    return next(r for r in evaluated[0] if r.model == model)


def test_every_model_writes_the_warehouse_tables(evaluated, summary, db_conn):
    results, _ = evaluated
    assert {r.model for r in results} == {"lr", "rf", "dnn_narrow"}  # dnn_wide was not trained: skipped
    for r in results:
        with db_conn.cursor() as cur:
            cur.execute(
                f"SELECT mlflow_run_id, registered_model, model_version FROM {registry.MODEL_RUNS} "
                "WHERE run_id = %s AND model = %s",
                (RUN_ID, r.model),
            )
            assert cur.fetchall() == [(r.mlflow_run_id, MODEL, r.version)]
        overall = _count(
            db_conn,
            f"SELECT count(*) FROM {registry.MODEL_METRICS} "
            "WHERE run_id = %s AND model = %s AND label = 'all'",
            RUN_ID,
            r.model,
        )
        assert overall == 2 * 4  # accuracy, macro F1, weighted F1, rows; for test and unseen
        per_class = _count(
            db_conn,
            f"SELECT count(*) FROM {registry.MODEL_METRICS} "
            "WHERE run_id = %s AND model = %s AND metric = 'recall' AND subset = 'test'",
            RUN_ID,
            r.model,
        )
        assert per_class == len(LABELS)
        cells = _count(
            db_conn,
            f"SELECT sum(rows) FROM {registry.CONFUSION} "
            "WHERE run_id = %s AND model = %s AND subset = 'test'",
            RUN_ID,
            r.model,
        )
        assert cells == summary.test_rows
    columns = _count(db_conn, f"SELECT count(*) FROM {registry.FEATURE_COLUMNS} WHERE run_id = %s", RUN_ID)
    assert columns == len(features.CANDIDATES) + 1


def test_mlflow_run_holds_params_scores_figures_and_the_model(evaluated, trained, summary, client, tmp_path):
    import mlflow.models

    for r in evaluated[0]:
        run = client.get_run(r.mlflow_run_id)
        assert run.info.status == "FINISHED"
        tags = run.data.tags
        assert (tags[tracking.TAG_DAG], tags[tracking.TAG_RUN], tags[tracking.TAG_MODEL]) == (
            DAG,
            RUN_ID,
            r.model,
        )
        assert tags[tracking.TAG_BATCH_FROM] == tags[tracking.TAG_BATCH_TO] == DAY.isoformat()
        assert tags[tracking.TAG_LEVEL] == "packet"
        assert tags[tracking.TAG_CODE] == code_package.code_version()  # the Dataproc package's version
        assert client.get_experiment(run.info.experiment_id).name == DAG
        record = trained[r.model]
        for key, value in record.params.items():
            assert run.data.params[key] == str(value)
        metrics = run.data.metrics
        assert metrics["cv_macro_f1"] == pytest.approx(record.cv_score)
        assert metrics["fit_seconds"] == pytest.approx(record.fit_seconds)
        assert metrics["test_macro_f1"] == pytest.approx(r.test.macro_f1)
        assert metrics["unseen_macro_f1"] == pytest.approx(r.unseen.macro_f1)
        assert metrics["test_recall_flood"] == pytest.approx(float(r.test.recall[LABELS.index("flood")]))
        history = client.get_metric_history(r.mlflow_run_id, "cv_candidate_macro_f1")
        assert [m.value for m in history] == pytest.approx([c["score"] for c in record.candidates])
        files = {f.path for f in client.list_artifacts(r.mlflow_run_id, "confusion")}
        assert files == {"confusion/confusion_test.png", "confusion/test.json", "confusion/unseen.json"}
        local = Path(client.download_artifacts(r.mlflow_run_id, "confusion", str(tmp_path / r.model)))
        assert (local / "confusion_test.png").read_bytes().startswith(b"\x89PNG")
        assert (
            json.loads((local / "test.json").read_text())["rows_actual_columns_predicted"]
            == r.test.matrix.tolist()
        )
        grid = json.loads(
            Path(client.download_artifacts(r.mlflow_run_id, "cv/grid.json", str(tmp_path))).read_text()
        )
        assert grid["grid"] == record.grid and len(grid["candidates"]) == len(record.candidates)
        columns = Path(client.download_artifacts(r.mlflow_run_id, "features/columns.json", str(tmp_path)))
        assert {c["column"] for c in json.loads(columns.read_text())["columns"]} == {
            c.column for c in summary.columns
        }
        version = client.get_model_version(MODEL, r.version)
        assert version.run_id == r.mlflow_run_id
        assert float(version.tags[tracking.TAG_F1]) == pytest.approx(r.test.macro_f1)
        info = mlflow.models.get_model_info(version.source)
        assert ("spark" if r.model in spark_models.MODELS else "keras") in info.flavors
        assert info.signature is not None
        if r.model in spark_models.MODELS:  # raw packet columns in, as the input example shows
            assert set(info.signature.inputs.input_names()) == set(summary.kept())
            assert info.saved_input_example_info is not None
        else:  # the feature vector in
            assert info.signature.inputs.inputs[0].shape == (-1, summary.feature_size)


def test_stored_metrics_agree_with_the_predictions(evaluated, folder, db_conn):
    table = ds.dataset(folder.predictions("rf"), format="parquet").to_table().to_pandas()
    accuracy = float((table["label"] == table["prediction"]).mean())
    with db_conn.cursor() as cur:
        cur.execute(
            f"SELECT value FROM {registry.MODEL_METRICS} "
            "WHERE run_id = %s AND model = 'rf' AND subset = 'test' AND metric = 'accuracy'",
            (RUN_ID,),
        )
        assert cur.fetchone()[0] == pytest.approx(accuracy)


def test_reevaluating_a_run_replaces_its_rows_and_registers_no_new_version(
    evaluated, db_url, folder, client, db_conn
):
    before = _count(db_conn, f"SELECT count(*) FROM {registry.MODEL_METRICS} WHERE run_id = %s", RUN_ID)
    versions = len(client.search_model_versions(f"name = '{MODEL}'"))
    again, decision = evaluation.evaluate(
        db_url, RUN_ID, folder, ["lr", "rf", "dnn_narrow"], client=client, dag_id=DAG, registered=MODEL
    )
    assert (
        _count(db_conn, f"SELECT count(*) FROM {registry.MODEL_METRICS} WHERE run_id = %s", RUN_ID) == before
    )
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == versions
    assert {r.version for r in again} == {r.version for r in evaluated[0]}
    assert not decision.promoted and "already the champion" in decision.reason


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
    assert len(lr.candidates) == 2


# --- the registry and the @champion alias -----------------------------------------------
def test_the_first_evaluation_promotes_its_best_version(evaluated, client, db_conn):
    results, _ = evaluated
    best = max(results, key=lambda r: r.test.macro_f1)
    with db_conn.cursor() as cur:
        cur.execute(
            f"SELECT challenger_version, promoted, reason FROM {champion.DECISIONS} WHERE slot = %s "
            "ORDER BY decided_at LIMIT 1",
            (MODEL,),
        )
        assert cur.fetchone() == (best.version, True, "no champion yet")
    assert tracking.champion_version(client, MODEL).version == best.version


def _version(
    client, name: str, evaluated, model: str, f1: float, fingerprint: str = "fp1"
) -> champion.Contender:
    """Register the model's run as a version of ``name``, as the evaluator does, with the score given."""
    run = client.get_run(_result(evaluated, model).mlflow_run_id)
    version = tracking.register(client, run, name, f1, fingerprint)
    kind = "spark" if model in spark_models.MODELS else "keras"
    return champion.Contender(RUN_ID, model, f1, fingerprint, str(version.version), kind)


def _no_rescore(holder):
    pytest.fail("no re-score expected")


def _decisions(conn, name: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT challenger_version, champion_version, promoted FROM {champion.DECISIONS} "
            "WHERE slot = %s ORDER BY decided_at",
            (name,),
        )
        return cur.fetchall()


def test_alias_moves_only_for_a_strictly_better_challenger(evaluated, client, db_conn):
    name = "test_champion_rule"
    lr, rf, dnn = (
        _version(client, name, evaluated, m, f1)
        for m, f1 in (("lr", 0.70), ("rf", 0.65), ("dnn_narrow", 0.75))
    )

    first = champion.challenge(db_conn, client, name, lr, _no_rescore)
    assert first.promoted and first.reason == "no champion yet"
    assert tracking.champion_version(client, name).version == lr.version

    worse = champion.challenge(db_conn, client, name, rf, _no_rescore)
    assert not worse.promoted and "does not beat the champion's 0.7000" in worse.reason
    assert tracking.champion_version(client, name).version == lr.version

    tie = champion.challenge(
        db_conn, client, name, champion.Contender(RUN_ID, "rf", 0.70, "fp1", rf.version), _no_rescore
    )
    assert not tie.promoted and "does not beat" in tie.reason  # strictly higher, not equal

    better = champion.challenge(db_conn, client, name, dnn, _no_rescore)
    assert better.promoted and "beats the champion's 0.7000" in better.reason
    assert tracking.champion_version(client, name).version == dnn.version
    assert champion.current(client, name) == dnn

    again = champion.challenge(db_conn, client, name, dnn, _no_rescore)
    assert not again.promoted and again.reason == f"version {dnn.version} is already the champion"

    assert _decisions(db_conn, name) == [
        (lr.version, None, True),
        (rf.version, lr.version, False),
        (rf.version, lr.version, False),
        (dnn.version, lr.version, True),
        (dnn.version, dnn.version, False),
    ]


def test_champion_is_rescored_on_the_challengers_test_data(evaluated, client, db_conn):
    name = "test_rescore_rule"
    old = _version(client, name, evaluated, "rf", 0.90, fingerprint="old")
    champion.challenge(db_conn, client, name, old, _no_rescore)
    asked = []

    def rescore(holder):
        asked.append(holder.version)
        return 0.60  # on the new test rows the champion is much worse than its stored 0.90

    new = _version(client, name, evaluated, "lr", 0.70, fingerprint="new")
    decision = champion.challenge(db_conn, client, name, new, rescore)
    assert asked == [old.version]
    assert decision.promoted and decision.champion.macro_f1 == 0.60
    assert tracking.champion_version(client, name).version == new.version


def test_a_rescore_failing_for_another_reason_fails_and_records_the_cause(evaluated, client, db_conn):
    name = "test_rescore_error"
    old = _version(client, name, evaluated, "rf", 0.60, fingerprint="old")
    champion.challenge(db_conn, client, name, old, _no_rescore)

    def rescore(holder):
        raise ConnectionError("JDBC read of the test rows timed out")

    new = _version(client, name, evaluated, "lr", 0.99, fingerprint="new")
    with pytest.raises(ConnectionError, match="timed out"):
        champion.challenge(db_conn, client, name, new, rescore)
    assert tracking.champion_version(client, name).version == old.version
    with db_conn.cursor() as cur:
        cur.execute(
            f"SELECT promoted, reason FROM {champion.DECISIONS} WHERE slot = %s ORDER BY decided_at", (name,)
        )
        rows = cur.fetchall()
    assert rows[-1] == (
        False,
        f"re-scoring champion version {old.version} failed (ConnectionError: JDBC read of the test rows "
        "timed out); kept, and the evaluation failed",
    )


@pytest.mark.parametrize("model", ["rf", "dnn_narrow"])
def test_rescoring_through_the_alias_reproduces_the_registered_score(
    evaluated, db_url, folder, client, db_conn, model
):
    """The champion re-score path: models:/<name>@champion on the raw test rows from PostgreSQL."""
    name = f"test_rescore_{model}"
    registered = _result(evaluated, model).test.macro_f1
    holder = _version(client, name, evaluated, model, registered)
    champion.challenge(db_conn, client, name, holder, _no_rescore)
    meta = read_json(folder.features_meta)
    score = evaluation.rescore_champion(db_url, meta, folder, client, name, champion.current(client, name))
    # The odd row added in the packets fixture is not in PostgreSQL: allow its one row of difference.
    assert score == pytest.approx(registered, abs=0.01)


def test_spark_model_loaded_by_champion_alias_predicts_like_the_in_run_model(
    evaluated, spark, packets, client, db_conn
):
    import mlflow.spark

    name = "test_serve_rf"
    champion.challenge(db_conn, client, name, _version(client, name, evaluated, "rf", 0.5), _no_rescore)
    served = mlflow.spark.load_model(tracking.champion_uri(name))
    test = packets.where("split = 'test'").withColumn("label", features.label_column())
    # The in-run model scored the features step's test rows, this run's raw rows: the same rows.
    matrix = spark_confusion(served.transform(test))
    np.testing.assert_array_equal(matrix, _result(evaluated, "rf").test.matrix)


def test_keras_model_loaded_by_champion_alias_predicts_like_the_in_run_model(
    evaluated, summary, folder, client, db_conn
):
    import mlflow.keras

    name = "test_serve_dnn"
    champion.challenge(
        db_conn, client, name, _version(client, name, evaluated, "dnn_narrow", 0.5), _no_rescore
    )
    model = mlflow.keras.load_model(tracking.champion_uri(name))
    probs, labels = tf_models.predict(model, folder.features("test"), summary.feature_size)
    stored = ds.dataset(folder.predictions("dnn_narrow"), format="parquet").to_table().to_pandas()
    np.testing.assert_array_equal(probs.argmax(axis=1), stored["prediction"].to_numpy().astype(int))
    np.testing.assert_array_equal(labels, stored["label"].to_numpy().astype(int))


def test_champion_whose_files_are_gone_is_kept_with_that_reason(
    evaluated, spark, db_url, folder, client, db_conn, mlflow_server
):
    import mlflow
    import mlflow.spark

    name = "test_files_gone"
    # A version of its own (a copy of the rf model in a new run), so deleting its files harms no other test.
    source = mlflow.spark.load_model(f"models:/{MODEL}/{_result(evaluated, 'rf').version}")
    experiment = tracking.experiment_id(client, DAG)
    with tracking.start_run(client, tracking.RunKey(DAG, "files_gone_run", "rf"), "spark", {}) as run:
        assert run.info.experiment_id == experiment
        mlflow.spark.log_model(source, "model", pip_requirements=tracking.pip_requirements("pyspark"))
    copy = tracking.register(client, client.get_run(run.info.run_id), name, 0.60, "old")
    champion.challenge(
        db_conn,
        client,
        name,
        champion.Contender("files_gone_run", "rf", 0.60, "old", str(copy.version), "spark"),
        _no_rescore,
    )
    location = client.get_model_version_download_uri(name, copy.version)
    files = mlflow_server["artifacts"] / urlsplit(location).path.lstrip("/")
    assert files.is_dir(), location
    shutil.rmtree(files)

    challenger = _version(client, name, evaluated, "lr", 0.99, fingerprint="new")
    meta = read_json(folder.features_meta)
    decision = champion.challenge(
        db_conn,
        client,
        name,
        challenger,
        lambda c: evaluation.rescore_champion(db_url, meta, folder, client, name, c),
    )
    assert not decision.promoted
    assert decision.reason.startswith(
        f"champion version {copy.version} could not be re-scored: its files are gone"
    )
    assert tracking.champion_version(client, name).version == str(copy.version)


def test_a_rerun_of_the_champions_run_is_a_new_version_and_must_beat_it(
    evaluated, spark, db_url, folder, grid_file, client, db_conn
):
    """Issue 14 item 7: the rerun writes a new version; the champion's version and files stay."""
    name = "test_rerun"
    original = _result(evaluated, "rf")
    holder = _version(
        client,
        name,
        evaluated,
        "rf",
        original.test.macro_f1,
        read_json(folder.features_meta)["test_fingerprint"],
    )
    champion.challenge(db_conn, client, name, holder, _no_rescore)
    source = client.get_model_version(name, holder.version).source

    spark_models.train(spark, "rf", folder, "quick", grid_file, tune_rows=2000, client=client, key=_key("rf"))
    rerun, decision = evaluation.evaluate(
        db_url, RUN_ID, folder, ["rf"], client=client, dag_id=DAG, registered=name
    )
    assert rerun[0].version != holder.version
    assert rerun[0].mlflow_run_id != original.mlflow_run_id
    assert rerun[0].test.macro_f1 == pytest.approx(original.test.macro_f1)  # seeded: the same model again
    assert not decision.promoted and "does not beat" in decision.reason
    assert tracking.champion_version(client, name).version == holder.version
    assert client.get_model_version(name, holder.version).source == source
    evaluation.check_files(client, name, champion.current(client, name))  # the champion's files are intact


# --- run folders ------------------------------------------------------------------------
def test_run_folders_are_distinct_for_distinct_run_ids_and_stay_inside_the_root(tmp_path):
    from mqttids.learning.artifacts import safe_run_id

    airflow_id, typed = "manual__2026-12-01T07:30:14+00:00", "manual__2026-12-01T07_30_14_00_00"
    assert safe_run_id(airflow_id) != safe_run_id(typed)
    for hostile in ("..", "../..", "../../etc", "a/../../b", "./.", "~root"):
        folder = RunFolder.of(hostile, str(tmp_path))
        resolved = Path(folder.root).resolve()
        assert resolved.parent == (tmp_path / "runs").resolve(), hostile
        assert "/" not in safe_run_id(hostile) and ".." not in safe_run_id(hostile)
    with pytest.raises(ValueError, match="not a file name inside the run folder"):
        RunFolder.of("run", str(tmp_path)).path("..", "x")
    rescore = RunFolder.of("run", str(tmp_path)).rescore("../../model", "3")
    assert (
        Path(rescore).resolve().parent
        == (Path(RunFolder.of("run", str(tmp_path)).root) / "rescore").resolve()
    )


# --- faults and command lines ---------------------------------------------------------
def test_tracking_server_down_fails_at_once_then_a_retry_logs_once(
    evaluated, spark, db_url, folder, grid_file, client, mlflow_server, monkeypatch, capsys
):
    from mqttids.runtime import embedded_mlflow

    dag, artifacts = "retry_dag", str(Path(folder.root).parents[1])
    args = [
        "--run-id",
        RUN_ID,
        "--artifacts",
        artifacts,
        "--dag-id",
        dag,
        "--model",
        "lr",
        "--grid-file",
        grid_file,
        "--tune-rows",
        "2000",
    ]
    port = int(mlflow_server["uri"].rsplit(":", 1)[1])
    evaluate_args = ["--run-id", RUN_ID, "--artifacts", artifacts, "--dag-id", dag, "--models", "lr"]
    embedded_mlflow.stop(mlflow_server["folder"])
    try:
        assert train_spark_cli.main(args) == 1
        assert f"MLflow tracking server {mlflow_server['uri']} does not answer" in capsys.readouterr().err
    finally:
        embedded_mlflow.start(
            warehouse_url=mlflow_server["db_url"], port=port, folder=mlflow_server["folder"]
        )
    assert client.get_experiment_by_name(dag) is None  # nothing was logged while it was down

    monkeypatch.setenv("MQTTIDS_MLFLOW_MODEL", "test_retry")
    # The retry, as the CLI runs it once the server answers (in-process, the CLI would stop the
    # session's shared Spark).
    retry = tracking.connect()
    spark_models.train(
        spark, "lr", folder, "quick", grid_file, tune_rows=2000, client=retry, key=_key("lr", dag)
    )
    assert evaluate_cli.main([*evaluate_args, "--db-url", db_url]) == 0
    assert evaluate_cli.main([*evaluate_args, "--db-url", db_url]) == 0
    experiment = client.get_experiment_by_name(dag)
    assert len(client.search_runs([experiment.experiment_id])) == 1
    assert len(client.search_model_versions("name = 'test_retry'")) == 1


def _tracked_runs(uri: str, model: str) -> list:
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    return c.search_runs([c.get_experiment_by_name(DAG).experiment_id], _key(model).filter())


def test_mlflow_run_urls_link_each_model_of_a_dag_run(evaluated, mlflow_server):
    urls = dict(tracking.mlflow_run_urls(DAG, RUN_ID, mlflow_server["uri"]))
    assert set(urls) >= {"lr", "rf", "dnn_narrow"}
    assert urls["rf"].startswith(mlflow_server["uri"] + "/#/experiments/")
    # The rerun test may have added a newer rf run: the link is to one of this DAG run's rf runs.
    rf_runs = {r.info.run_id for r in _tracked_runs(mlflow_server["uri"], "rf")}
    assert urls["rf"].rsplit("/runs/", 1)[1] in rf_runs
    assert tracking.mlflow_run_urls(DAG, "no_such_run", mlflow_server["uri"]) == []
    assert (
        tracking.mlflow_run_urls(DAG, RUN_ID, "http://127.0.0.1:9") == []
    )  # server down: no links, no error


def test_a_running_embedded_server_is_found_and_reused(mlflow_server, tmp_path):
    from mqttids.runtime import embedded_mlflow

    assert embedded_mlflow.running_uri(mlflow_server["folder"]) == mlflow_server["uri"]
    assert embedded_mlflow.running_uri(tmp_path) is None  # no state: nothing to reuse


def test_unwritable_artifact_store_is_a_clear_error(tmp_path, monkeypatch, db_url):
    from mqttids.runtime import embedded_mlflow

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MQTTIDS_MLFLOW_ARTIFACTS", str(blocker / "artifacts"))
    with pytest.raises(embedded_mlflow.MlflowServerError, match="artifact store .* is not writable"):
        embedded_mlflow.start(warehouse_url=db_url, folder=tmp_path / "state")


def test_mlflow_database_is_never_the_warehouse_or_airflows(monkeypatch):
    from mqttids.runtime import embedded_mlflow

    url = "postgresql://mqttids:secret@db.example:5433/mqttids"
    monkeypatch.setenv("MQTTIDS_MLFLOW_DB", "mlflow")
    assert (
        embedded_mlflow.backend_store_uri(url)
        == "postgresql+psycopg2://mqttids:secret@db.example:5433/mlflow"
    )
    monkeypatch.setenv(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://airflow:x@db.example/airflow"
    )
    for name in ("mqttids", "airflow"):
        monkeypatch.setenv("MQTTIDS_MLFLOW_DB", name)
        with pytest.raises(embedded_mlflow.MlflowServerError, match="needs its own"):
            embedded_mlflow.backend_store_uri(url)


def test_trainer_without_features_fails_clearly(tmp_path, capsys):
    code = train_spark_cli.main(["--run-id", "nothing_here", "--artifacts", str(tmp_path), "--model", "rf"])
    assert code == 1
    assert "run jobs/features.py first" in capsys.readouterr().err


def test_evaluate_rejects_unknown_models(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_cli.main(["--run-id", "x", "--artifacts", str(tmp_path), "--models", "svm"])
    assert exit_info.value.code == 2
