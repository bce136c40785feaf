"""The live consumer scores connection windows as they close, with the values batch scoring gets.

Genuine packets of a corpus capture go through the consumer's batch scorer as Kafka records (in
capture order, a few dozen per poll, end markers last) with the connection-level champion and
short windows: a window closes when a packet opens the next one, when its connection has been
quiet for the idle limit (set to the window length, so an evicted connection's window is final)
and when the capture ends. Every window Spark makes must be scored once, and the alerts must be
those Spark's windows give: the first window of each connection that the same champion puts in
each attack class, with its number, packets and times.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kafka import TopicPartition

from detection.records import Record, as_records
from mqttids.connection.state import micros
from mqttids.detection import consumer, frames, levels, producer
from mqttids.detection.local_model import LocalModel
from mqttids.runtime import tracking_server
from mqttids.schema import LABELS

WINDOW = 0.5  # seconds: slowite connections idle 1 to 1.5 s, so they span several windows


@pytest.fixture(scope="module")
def slowite(corpus) -> list[dict]:
    capture = next(f.path for f in corpus.files if f.label == "slowite" and f.split == "test")
    return producer.replay_packets(Path(capture), [corpus.mqtt_port])


def _records(capture: str, parsed: list[dict], per_poll: int) -> list[list[Record]]:
    records = as_records([producer.message(capture, p) for p in parsed] + [producer.end_marker(capture, 1)])
    return [records[i : i + per_poll] for i in range(0, len(records), per_poll)]


def _batch_alerts(spark, capture: str, parsed: list[dict], model: LocalModel) -> tuple[int, set[tuple]]:
    """Spark's windows of the capture, and (connection, window, class, packets, first and last
    time) of the first window of each connection in each attack class."""
    packet_frame = frames.with_connections(frames.from_packets(spark, capture, parsed))
    frame, _ = levels.frame("connection", packet_frame)
    windows = [r.asDict() for r in frame.orderBy("connection_id", "_window_no").collect()]
    assert len(windows) > len({w["connection_id"] for w in windows}), "no connection spans two windows"
    alerts, raised = set(), set()
    for row, p in zip(windows, model.probabilities(windows), strict=True):
        predicted = LABELS[int(p.argmax())]
        if predicted != consumer.BENIGN and (row["connection_id"], predicted) not in raised:
            raised.add((row["connection_id"], predicted))
            span = (micros(row["_first_time"]), micros(row["_last_time"]))
            alerts.add((row["connection_id"], row["_window_no"], predicted, row["_packets"], *span))
    return len(windows), alerts


def test_live_connection_windows_raise_the_alerts_of_batch_windows(
    spark, db_conn, slowite, champion_versions, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("MQTTIDS_CONNECTION_WINDOW", str(WINDOW))
    monkeypatch.setenv("MQTTIDS_DETECT_IDLE_SECONDS", str(WINDOW))
    client = tracking_server.connect(mlflow_server["uri"])
    (scorer,) = consumer.scorers(client, tmp_path, ("connection",))
    capture, name = f"windows-{uuid.uuid4().hex[:6]}", f"live-windows-{uuid.uuid4().hex[:6]}"
    windows, expected = _batch_alerts(spark, capture, slowite, scorer.model)

    batch_scorer = consumer.BatchScorer(db_conn, "live-windows", name, [scorer])
    left, returned, in_memory = set(), set(), set()
    tp = TopicPartition("live-windows", 0)
    result = consumer.ConsumeResult()
    for poll in _records(capture, slowite, per_poll=25):
        batch_scorer.store({tp: poll}, result)
        now = set(batch_scorer.connections)
        returned |= left & now
        left |= in_memory - now
        in_memory = now
    assert not batch_scorer.connections, "the capture's end closes every connection"
    assert returned, "no connection went idle and spoke again: the idle route is untested"
    assert result.windows == windows  # every window scored once, however it closed

    with db_conn.cursor() as cur:
        cur.execute(
            "SELECT connection_id, window_no, predicted, packets, first_time, last_time, kafka_offset "
            "FROM mqtt.detections WHERE run_id = %s AND level = 'connection'",
            (name,),
        )
        found = cur.fetchall()
    db_conn.commit()
    assert {(c, w, p, n, micros(f), micros(last)) for c, w, p, n, f, last, _ in found} == expected
    assert all(offset is not None for *_, offset in found)
