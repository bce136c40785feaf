"""Learning at the three feature levels on genuine traffic (the capture corpus, loaded by ingest):
features per level, splits and folds by connection, every model trained, registered and scored
at the connection levels, one champion per level, and batches without connection ids skipping them."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.dataset as ds
import pytest
from pyspark.sql import functions as F

from mqttids.connection.features import CONNECTION_FEATURES, CONTEXT_FEATURES, IDENTIFIERS
from mqttids.learning import (
    arrays,
    evaluation,
    features,
    folds,
    levels,
    spark_models,
    tf_models,
    tracking,
    xgb_models,
)
from mqttids.learning.artifacts import RunFolder, read_json
from mqttids.warehouse.batches import BatchRange

RUN_ID = "levels_test_run"
DAG = "levels_test_dag"
PACKET_MODEL = "test_levels_packet"
TINY = {
    "lr": {"regParam": [0.001], "maxIter": [50]},
    "rf": {"numTrees": [10], "maxDepth": [8]},
    "dnn_narrow": {"depth": [2], "width": [16], "learning_rate": [3e-3]},
    "xgb": {"max_depth": [4], "num_boost_round": [40]},
}
CONNECTION_LEVELS = ("packet_context", "connection")


@pytest.fixture(scope="module")
def batch(corpus_packets) -> BatchRange:
    return BatchRange.single(corpus_packets)


@pytest.fixture(scope="module")
def packets(spark, db_url, batch):
    return features.read_packets(spark, db_url, batch).cache()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> RunFolder:
    return RunFolder.of(RUN_ID, str(tmp_path_factory.mktemp("levels-artifacts")))


@pytest.fixture(scope="module")
def level_features(spark, packets, run, batch) -> dict:
    """Every level's features, asked for logistic regression's quantile bins (the suite's default is none)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MQTTIDS_LR_BINS", "8")
        return levels.build(spark, packets, RUN_ID, run, batch, list(levels.LEVELS))


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("levels-grids") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return str(path)


@pytest.fixture(scope="module")
def client(mlflow_server):
    return tracking.connect(mlflow_server["uri"])


def _key(model: str, level: str) -> tracking.RunKey:
    return tracking.RunKey(DAG, RUN_ID, model, level)


@pytest.fixture(scope="module")
def trained(spark, level_features, run, grid_file, client) -> dict:
    """Every model at both connection levels, and xgb and dnn_narrow at the packet level too."""
    records = {}
    for level in levels.LEVELS:
        folder = levels.folder_of(run, level)
        common = {"tune_rows": 0, "client": client}
        records[("xgb", level)] = xgb_models.train(
            "xgb", folder, "quick", grid_file, key=_key("xgb", level), **common
        )
        if level == "packet":  # with bins here, which dnn_narrow reads (lr and rf: test_learning.py)
            records[("dnn_narrow", level)] = tf_models.train(
                "dnn_narrow", folder, "quick", grid_file, key=_key("dnn_narrow", level), **common
            )
            continue
        for name in spark_models.MODELS:
            records[(name, level)] = spark_models.train(
                spark, name, folder, "quick", grid_file, key=_key(name, level), **common
            )
        records[("dnn_narrow", level)] = tf_models.train(
            "dnn_narrow", folder, "quick", grid_file, key=_key("dnn_narrow", level), **common
        )
    return records


@pytest.fixture(scope="module")
def evaluated(db_url, trained, run, client) -> dict:
    return {
        level: evaluation.evaluate(
            db_url,
            RUN_ID,
            levels.folder_of(run, level),
            ["lr", "rf", "dnn_narrow", "xgb"],
            client=client,
            dag_id=DAG,
            registered=PACKET_MODEL,
            level=level,
        )
        for level in levels.LEVELS
    }


# --- features per level -------------------------------------------------------------------
def test_each_level_has_its_own_rows_and_columns_and_no_identifier(level_features, run, packets):
    assert all(not isinstance(level_features[level], str) for level in levels.LEVELS), level_features
    kept = {level: set(level_features[level].kept()) for level in levels.LEVELS}
    assert not kept["packet"] & set(CONTEXT_FEATURES)
    assert kept["packet"] < kept["packet_context"] and kept["packet_context"] & set(CONTEXT_FEATURES)
    assert kept["connection"] <= set(CONNECTION_FEATURES)
    for level in levels.LEVELS:
        assert not kept[level] & set(IDENTIFIERS), level
        assert not {d.column for d in level_features[level].columns} & set(IDENTIFIERS), level
    with_ids = packets.where("connection_id IS NOT NULL")
    context, windows = level_features["packet_context"], level_features["connection"]
    assert context.train_rows + context.test_rows == with_ids.count()
    assert windows.train_rows + windows.test_rows >= with_ids.select("connection_id").distinct().count()
    assert levels.folder_of(run, "connection").root == run.root + "/connection"


def test_only_the_packet_level_gets_quantile_bins(level_features, run):
    def columns(level: str) -> set[str]:
        return set(ds.dataset(levels.folder_of(run, level).features("train"), format="parquet").schema.names)

    assert features.BINNED in columns("packet")
    assert features.BINNED not in columns("packet_context") | columns("connection")
    assert [levels.lr_bins(level) for level in levels.LEVELS] == [0, 0, 0]  # the suite's setting, outside


def _connections(uri: str, *columns: str):
    return ds.dataset(uri, format="parquet").to_table(columns=[folds.CONNECTION, *columns]).to_pandas()


def test_the_split_and_the_folds_are_connection_disjoint(level_features, run):
    for level in levels.LEVELS:
        folder = levels.folder_of(run, level)
        train = _connections(folder.features("train"), folds.GROUP, "target")
        test = _connections(folder.features("test"))
        assert train[folds.CONNECTION].notna().all() and test[folds.CONNECTION].notna().all()
        assert not set(train[folds.CONNECTION]) & set(test[folds.CONNECTION]), level
        for k in (3, 5):
            train["fold"] = train[folds.GROUP] % k
            assert (train.groupby(folds.CONNECTION)["fold"].nunique() == 1).all(), (level, k)
            # Each class's connections are spread over the folds, not piled into one.
            per_class = train.groupby("target")[folds.CONNECTION].nunique()
            spread = train.groupby("target")["fold"].nunique()
            assert (spread == np.minimum(per_class, k)).all(), (level, k)
        # The array trainers' folds (Keras, XGBoost) are the same folds.
        sample = arrays.sample(folder.features("train"), level_features[level].feature_size, 0, "sqrt", None)
        for fit, val in arrays.group_folds(sample.groups, 3):
            assert not set(sample.groups[fit] % 3) & set(sample.groups[val] % 3)


def test_a_connection_on_both_sides_is_refused(spark, packets, run, batch):
    first = packets.where("split = 'train' AND connection_id IS NOT NULL").select("connection_id").first()[0]
    leaked = packets.withColumn(
        "split",
        F.when((F.col("connection_id") == first) & (F.col("connection_seq") == 1), "test").otherwise(
            F.col("split")
        ),
    )
    with pytest.raises(folds.ConnectionsShared, match="1 connections have packets in both train and test"):
        features.build(spark, leaked, "leak", RunFolder(run.path("leak")), batch)


def test_a_batch_without_connection_ids_skips_the_connection_levels(spark, packets, run, batch, caplog):
    plain = packets.withColumn("connection_id", F.lit(None).cast("long"))
    folder = RunFolder(run.path("plain"))
    out = levels.build(spark, plain, "plain", folder, batch, list(CONNECTION_LEVELS))
    for level in CONNECTION_LEVELS:
        assert out[level].startswith(f"level {level} skipped: ") and "no connection ids" in out[level]
        assert levels.skipped(levels.folder_of(folder, level)) == out[level]
    assert levels.built(folder, list(CONNECTION_LEVELS)) == []  # the trainers and evaluate skip them
    assert "level connection skipped" in caplog.text
    with pytest.raises(FileNotFoundError, match="run jobs/features.py first"):
        levels.built(folder)  # the packet level is always built: its absence is an error


# --- models per level ----------------------------------------------------------------------
def test_every_model_trains_and_is_registered_at_each_level(evaluated, trained, client, db_conn):
    for (name, level), record in trained.items():
        run = client.get_run(record.mlflow_run_id)
        assert run.data.tags[tracking.TAG_LEVEL] == level and run.data.tags[tracking.TAG_MODEL] == name
        if record.kind in ("keras", "xgboost"):
            assert client.list_artifacts(record.mlflow_run_id, tracking.FEATURE_PIPELINE)
    for level, (results, decision) in evaluated.items():
        registered = tracking.registered_name(level, PACKET_MODEL)
        versions = client.search_model_versions(f"name = '{registered}'")
        expected = {"xgb", "dnn_narrow"} if level == "packet" else {"lr", "rf", "dnn_narrow", "xgb"}
        assert {v.tags[tracking.TAG_MODEL] for v in versions} == expected
        assert {v.tags[tracking.TAG_LEVEL] for v in versions} == {level}
        assert decision.promoted and tracking.champion_version(client, registered) is not None
        assert {r.model for r in results} == expected
    assert tracking.registered_name("connection", PACKET_MODEL) == "test_levels_connection"
    with db_conn.cursor() as cur:
        cur.execute(
            "SELECT level, count(DISTINCT model), count(*) FILTER (WHERE metric = 'recall') "
            "FROM mqtt.model_metrics WHERE run_id = %s AND subset = 'test' GROUP BY 1 ORDER BY 1",
            (RUN_ID,),
        )
        rows = {level: (models, recalls) for level, models, recalls in cur.fetchall()}
        cur.execute(
            "SELECT level, sum(rows) FROM mqtt.confusion_matrix WHERE run_id = %s AND subset = 'test' "
            "AND model = 'xgb' GROUP BY 1",
            (RUN_ID,),
        )
        matrix_rows = dict(cur.fetchall())
        cur.execute("SELECT DISTINCT slot, level FROM mqtt.champion_decisions WHERE run_id = %s", (RUN_ID,))
        slots = set(cur.fetchall())
    assert rows["packet"][0] == 2 and rows["packet_context"][0] == rows["connection"][0] == 4
    assert all(recalls == models * 6 for models, recalls in rows.values())
    assert {level for level in matrix_rows} == set(levels.LEVELS)
    assert slots == {(tracking.registered_name(level, PACKET_MODEL), level) for level in levels.LEVELS}


def test_connection_features_beat_packets_alone_on_genuine_traffic(evaluated):
    f1 = {level: {r.model: r.test.macro_f1 for r in results} for level, (results, _) in evaluated.items()}
    # The corpus's bruteforce and dos packets are the same per packet; their connections are not.
    assert f1["connection"]["xgb"] > f1["packet"]["xgb"], f1
    assert f1["packet_context"]["xgb"] > f1["packet"]["xgb"], f1


def test_the_champion_of_a_level_is_rescored_from_packets(db_url, evaluated, run, client):
    """A champion scored on other test rows is re-scored on this run's, through its level's rows."""
    level = "connection"
    registered = tracking.registered_name(level, PACKET_MODEL)
    holder = evaluation.champion.current(client, registered)
    meta = read_json(levels.folder_of(run, level).features_meta)
    score = evaluation.rescore_champion(
        db_url, meta, levels.folder_of(run, level), client, registered, holder, level
    )
    assert score == pytest.approx(holder.macro_f1, abs=1e-9)


def test_the_networks_read_the_quantile_bins_where_the_level_has_them(
    db_url, evaluated, trained, level_features, run, client
):
    """At the packet level (bins) dnn_narrow reads features_binned and XGBoost features_scaled; at
    the levels without bins both read features_scaled. The run and its version say which, and the
    packet-level network, made champion, is rescored from packets through the binned vector."""
    import mlflow.keras

    packet = level_features["packet"]
    assert packet.binned_size > packet.feature_size and level_features["connection"].binned_size == 0
    for (name, level), record in trained.items():
        if record.kind == "spark":
            continue
        binned = (name, level) == ("dnn_narrow", "packet")
        assert client.get_run(record.mlflow_run_id).data.tags[tracking.TAG_INPUT] == (
            features.BINNED if binned else "features_scaled"
        ), (name, level)
    network = trained[("dnn_narrow", "packet")]
    assert network.params["input"] == features.BINNED
    width = mlflow.keras.load_model(f"runs:/{network.mlflow_run_id}/model").inputs[0].shape[-1]
    assert width == packet.binned_size

    registered = tracking.registered_name("packet", PACKET_MODEL)
    (version,) = client.search_model_versions(f"name = '{registered}' AND run_id = '{network.mlflow_run_id}'")
    assert version.tags[tracking.TAG_INPUT] == features.BINNED
    was = tracking.champion_version(client, registered).version
    client.set_registered_model_alias(registered, tracking.CHAMPION_ALIAS, version.version)
    try:
        holder = evaluation.champion.current(client, registered)
        meta = read_json(run.features_meta)
        score = evaluation.rescore_champion(db_url, meta, run, client, registered, holder)
        assert score == pytest.approx(holder.macro_f1, abs=1e-9)
    finally:
        client.set_registered_model_alias(registered, tracking.CHAMPION_ALIAS, was)
