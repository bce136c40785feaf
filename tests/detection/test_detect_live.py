"""The live path on a real broker (tansu), PostgreSQL and MLflow: no alert lost, none doubled.

The same packets go to two topics under two capture names. One consumer reads the first without
interruption; the other, a real ``jobs/detect_stream.py consume`` process, is killed (SIGKILL)
once it has stored part of the second, then restarted. Both must raise the same alerts (same
level, connection, class, packet count and packet time; the connection level's come when the
capture ends, so the restarted one reads every connection's stored state back), each once, and
every stored alert of the killed one must be on its alerts topic.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import detect_stream  # jobs/detect_stream.py
import pytest
from kafka import KafkaConsumer, TopicPartition

from mqttids.detection import consumer, producer
from mqttids.runtime import db, tracking_server

JOB = Path(__file__).resolve().parents[2] / "jobs" / "detect_stream.py"
PARTITIONS = 2
WAIT = 180.0


def _query(db_url: str, sql: str, args: tuple = ()) -> list[tuple]:
    conn = db.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def _alerts(db_url: str, capture: str) -> Counter:
    rows = _query(
        db_url,
        "SELECT level, connection_id, predicted, packets, last_time FROM mqtt.detections "
        "WHERE source = 'live' AND capture = %s",
        (capture,),
    )
    return Counter(rows)


def _consume_command(bootstrap, db_url, topic, capture, name) -> list[str]:
    return [
        sys.executable, str(JOB), "consume", "--bootstrap", bootstrap, "--db-url", db_url, "--topic", topic,
        "--partitions", str(PARTITIONS), "--alerts-topic", f"{topic}-alerts", "--until-end", capture,
        "--consumer", name, "--batch-size", "40", "--duration", str(WAIT),
    ]  # fmt: skip


def _topic_values(bootstrap: str, topic: str) -> list[dict]:
    kafka = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    kafka.assign([tp])
    kafka.seek_to_beginning(tp)
    end = kafka.end_offsets([tp])[tp]
    values = []
    while kafka.position(tp) < end:
        for records in kafka.poll(timeout_ms=1000).values():
            values += [json.loads(r.value) for r in records]
    kafka.close()
    return values


@pytest.fixture(scope="module")
def replayed(corpus) -> list[dict]:
    """The dos test capture three times over (renumbered connections): many alerts, many batches."""
    capture = next(f.path for f in corpus.files if f.label == "dos" and f.split == "test")
    return producer.replay_packets(Path(capture), [corpus.mqtt_port], loops=3)


def test_a_consumer_killed_mid_stream_and_restarted_loses_and_doubles_no_alert(
    kafka_bootstrap, db_url, mlflow_server, champion_versions, replayed, tmp_path
):
    run = uuid.uuid4().hex[:8]
    reference, crashed = f"live-ref-{run}", f"live-crash-{run}"
    for topic in (reference, crashed):
        producer.publish(kafka_bootstrap, topic, PARTITIONS, topic, replayed)

    scoring = consumer.scorers(tracking_server.connect(mlflow_server["uri"]), tmp_path)
    assert {s.champion.level for s in scoring} == {"packet", "packet_context", "connection"}
    conn = db.connect(db_url)
    try:
        consumer.consume(
            conn=conn, bootstrap=kafka_bootstrap, topic=reference, alerts_topic=f"{reference}-alerts",
            partitions=PARTITIONS, scoring=scoring, duration=WAIT, until_end_of=reference,
            consumer=reference, batch_size=40,
        )  # fmt: skip
    finally:
        conn.close()
    expected = _alerts(db_url, reference)
    assert expected and max(expected.values()) == 1
    assert {level for level, *_ in expected} == {"packet", "packet_context", "connection"}

    command = _consume_command(kafka_bootstrap, db_url, crashed, crashed, crashed)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server["uri"]}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT
    while not _alerts(db_url, crashed) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL, first.stderr.read().decode()[-2000:]
    stored_at_kill = sum(_alerts(db_url, crashed).values())
    ends = _query(db_url, "SELECT count(*) FROM mqtt.detection_ends WHERE consumer = %s", (crashed,))[0][0]
    assert 0 < stored_at_kill < sum(expected.values()) and ends < PARTITIONS, "not killed mid-stream"

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=WAIT)
    assert second.returncode == 0, second.stderr[-2000:]
    assert _alerts(db_url, crashed) == expected

    ids = {
        r[0]
        for r in _query(db_url, "SELECT detection_id FROM mqtt.detections WHERE capture = %s", (crashed,))
    }
    assert {v["detection_id"] for v in _topic_values(kafka_bootstrap, f"{crashed}-alerts")} == ids
    assert _query(
        db_url, "SELECT count(*) FROM mqtt.detections WHERE capture = %s AND NOT alert_sent", (crashed,)
    ) == [(0,)]


def test_the_broker_down_at_start_is_a_clear_error(db_url, capsys):
    closed = "127.0.0.1:9"  # discard: nothing listens there
    for step in (["consume", "--duration", "5", "--db-url", db_url], ["produce", "--interface", "lo"]):
        assert detect_stream.main([step[0], "--bootstrap", closed, *step[1:]]) == 1
        assert f"detect_stream {step[0]} failed: cannot reach Kafka at {closed}" in capsys.readouterr().err
