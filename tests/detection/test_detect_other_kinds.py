"""mqtt_detect's job with a champion that is not Spark: an XGBoost booster or a Keras network.

The learning stage registers those as the model in its MLflow flavour plus the run's fitted
``feature_pipeline`` artifact (tagged ``mqttids.kind``), so detection has to fetch both, make
the features with that pipeline and call the model outside Spark, fed the vector it was trained
on (``mqttids.input``: a packet-level network reads the quantile bins). Each test registers such a
champion under its own registered-model name (the session's Spark champions stay as they are)
and scores a corpus capture under a name of its own. Expected: each connection's class and
mean probabilities from the model kept in memory, on features made here from tshark's export.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml.functions import vector_to_array

from detection.training import corpus_train, feature_stages, register
from mqttids.capture import tshark
from mqttids.detection import frames, levels, packets
from mqttids.learning import features
from mqttids.runtime import db, tracking_server
from mqttids.schema import LABELS

# Quantile bins of each kind's feature pipeline: the network reads features_binned, as a
# packet-level one does, and its version says so; the booster's version is untagged, as versions
# registered before the tag were, and reads features_scaled.
BINS = {"xgboost": 0, "keras": 16}


def _vectors(frame, reads: str) -> np.ndarray:
    rows = frame.select(vector_to_array(reads, "float32").alias("x")).collect()
    return np.asarray([r.x for r in rows], dtype=np.float32)


def _fit(kind: str, x: np.ndarray, y: np.ndarray):
    """A small model of ``kind`` and the function that gives its class probabilities."""
    if kind == "xgboost":
        import xgboost

        params = {"objective": "multi:softprob", "num_class": len(LABELS), "max_depth": 4, "seed": 7}
        booster = xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=15)
        return booster, lambda m: booster.predict(xgboost.DMatrix(m))
    import keras

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(len(LABELS), activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=256, verbose=0)
    return model, lambda m: np.asarray(model.predict_on_batch(m))


def _expected(
    spark, fitted, predict, reads: str, capture: Path, port: int, work: Path
) -> dict[int, np.ndarray]:
    """Each connection's mean class probabilities, by the in-memory model on tshark's export."""
    csv = tshark.convert(capture, work / f"{capture.stem}.csv", [port]).output
    rows = list(packets.read_export(csv))
    frame, _ = levels.frame("packet", frames.with_connections(frames.from_packets(spark, str(capture), rows)))
    made = fitted.transform(frame).orderBy("connection_id", "connection_seq").cache()
    ids = [r.connection_id for r in made.select("connection_id").collect()]
    by_connection = defaultdict(list)
    for connection, p in zip(ids, predict(_vectors(made, reads)), strict=True):
        by_connection[connection].append(p)
    made.unpersist()
    return {c: np.mean(ps, axis=0) for c, ps in by_connection.items()}


@pytest.mark.parametrize("kind", BINS)
def test_a_champion_that_is_not_spark_scores_a_capture(
    kind, spark, db_url, corpus, corpus_packets, unlabelled, mlflow_server, run_job, tmp_path, monkeypatch
):
    bins = BINS[kind]
    name = f"mqtt_ids_{kind}_packet"
    monkeypatch.setenv("MQTTIDS_MLFLOW_MODEL", name)
    train, kept = corpus_train(spark, db_url, corpus_packets)
    fitted = (features.build_pipeline(kept, bins) if bins else feature_stages(kept)).fit(train)
    reads = features.BINNED if bins else "features_scaled"
    y = np.asarray([r.label for r in train.select("label").collect()], dtype=np.int64)
    model, predict = _fit(kind, _vectors(fitted.transform(train), reads), y)
    train.unpersist()
    pipeline = tmp_path / "pipeline"
    fitted.write().save(str(pipeline))
    client = tracking_server.connect(mlflow_server["uri"])
    version = register(client, model, "packet", kind, pipeline, reads if bins else None)

    folder = tmp_path / "landing"
    folder.mkdir()
    capture = folder / f"{kind}-site.pcap"
    shutil.copy(sorted(unlabelled.glob("*.pcap"))[0], capture)
    shutil.copy(unlabelled / "corpus.json", folder)
    args = ("--captures", str(folder), "--levels", "packet", "--run-id", kind, "--db-url", db_url)
    code, _, err = run_job(*args)
    assert code == 0, err

    expected = _expected(spark, fitted, predict, reads, capture, corpus.mqtt_port, tmp_path)
    conn = db.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT connection_id, predicted, model, model_version, "
                f"{', '.join('prob_' + label for label in LABELS)} FROM mqtt.detections "
                "WHERE capture = %s AND level = 'packet'",
                (str(capture.resolve()),),
            )
            found = cur.fetchall()
    finally:
        conn.close()
    assert {r[0] for r in found} == set(expected)
    for connection, predicted, model_name, model_version, *probabilities in found:
        want = expected[connection]
        assert (model_name, model_version) == (name, version)
        np.testing.assert_allclose(probabilities, want, atol=1e-5)
        assert predicted == LABELS[int(np.argmax(want))]
