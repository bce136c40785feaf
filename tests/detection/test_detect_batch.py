"""mqtt_detect's job on unlabelled captures: end to end, rerun, bad inputs, and the numpy export.

The inputs are corpus captures renamed so that nothing tells their class. Expected values come
from elsewhere: the connections of each capture from tshark run by hand, the per-connection
classes from the champion run outside Spark (the numpy export, itself checked against Spark's
own probabilities here), the summary from the detections by plain Python.
"""

from __future__ import annotations

import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array

from mqttids.capture import tshark
from mqttids.detection import champions, frames, levels, packets
from mqttids.detection.local_model import LocalModel, padded
from mqttids.runtime import db, tracking_server
from mqttids.schema import LABELS

LEVELS = levels.LEVELS


@pytest.fixture(scope="module")
def fetched(champion_versions, mlflow_server, tmp_path_factory) -> dict[str, champions.Champion]:
    client = tracking_server.connect(mlflow_server["uri"])
    into = tmp_path_factory.mktemp("champions")
    return {level: champions.fetch(client, level, into) for level in LEVELS}


@pytest.fixture(scope="module")
def parsed(unlabelled, corpus, tmp_path_factory) -> dict[str, list[dict]]:
    """{capture path: its packets}, converted by tshark and parsed in this process."""
    work = tmp_path_factory.mktemp("exports")
    out = {}
    for capture in sorted(unlabelled.glob("*.pcap")):
        csv = tshark.convert(capture, work / f"{capture.stem}.csv", [corpus.mqtt_port]).output
        out[str(capture.resolve())] = list(packets.read_export(csv))
    return out


def _tshark_streams(capture: Path, port: int) -> Counter:
    """Packets per tcp.stream, from tshark itself (no project code)."""
    args = [
        "tshark",
        "-n",
        "-r",
        str(capture),
        "-d",
        f"tcp.port=={port},mqtt",
        "-T",
        "fields",
        "-e",
        "tcp.stream",
    ]
    lines = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    return Counter(int(x) for x in lines)


def _rows(db_url: str, sql: str, args: tuple = ()) -> list[tuple]:
    conn = db.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def _expected_classes(model: LocalModel, rows: list[dict]) -> dict[int, str]:
    """Each connection's class: the mean of its rows' probabilities (its packets' or, one window
    per connection here, its window's), by the numpy champion."""
    by_connection = defaultdict(list)
    for row, p in zip(rows, model.probabilities(rows), strict=True):
        by_connection[row["connection_id"]].append(p)
    return {c: LABELS[int(np.mean(ps, axis=0).argmax())] for c, ps in by_connection.items()}


def _ordered(frame, level: str):
    return frame.orderBy(
        *(["connection_id", "_window_no"] if level == "connection" else [packets.STREAM, "connection_seq"])
    )


def _level_rows(spark, capture: str, parsed: list[dict], level: str) -> list[dict]:
    """The rows the level scores, made by Spark from the parsed packets."""
    frame, _ = levels.frame(level, frames.with_connections(frames.from_packets(spark, capture, parsed)))
    return [r.asDict() for r in _ordered(frame, level).collect()]


def test_the_numpy_champion_gives_sparks_probabilities(spark, fetched, parsed):
    capture, rows = next(iter(parsed.items()))
    packet_frame = frames.with_connections(frames.from_packets(spark, capture, rows))
    for level, champion in fetched.items():
        frame, _ = levels.frame(level, packet_frame)
        frame = _ordered(frame, level)
        spark_out = PipelineModel.load(str(champion.spark_model)).transform(frame)
        want = np.array([r.p for r in spark_out.select(vector_to_array("probability").alias("p")).collect()])
        got = LocalModel.read(champion.spark_model).probabilities([r.asDict() for r in frame.collect()])
        np.testing.assert_allclose(got, padded(want), rtol=0, atol=1e-12)


def test_unlabelled_captures_are_scored_per_connection_and_a_rerun_replaces_them(
    spark, db_url, run_job, unlabelled, corpus, fetched, parsed
):
    code, out, err = run_job("--captures", str(unlabelled), "--run-id", "first", "--db-url", db_url)
    assert code == 0, err
    first_ids = {
        r[0] for r in _rows(db_url, "SELECT detection_id FROM mqtt.detections WHERE run_id = 'first'")
    }
    for capture, rows in parsed.items():
        streams = _tshark_streams(Path(capture), corpus.mqtt_port)
        assert capture in out
        for level, champion in fetched.items():
            found = _rows(
                db_url,
                "SELECT connection_id, packets, predicted, first_time <= last_time, model, model_version, "
                f"{', '.join('prob_' + label for label in LABELS)} FROM mqtt.detections "
                "WHERE capture = %s AND level = %s AND source = 'batch'",
                (capture, level),
            )
            assert len(found) == len(streams) and {r[0]: r[1] for r in found} == dict(streams), (
                capture,
                level,
            )
            scored = _level_rows(spark, capture, rows, level)
            expected = _expected_classes(LocalModel.read(champion.spark_model), scored)
            assert {r[0]: r[2] for r in found} == expected, (capture, level)
            for r in found:
                assert r[3] and (r[4], r[5]) == (champion.name, champion.version)
                assert sum(r[6:]) == pytest.approx(1.0) and LABELS[int(np.argmax(r[6:]))] == r[2]
            summary = _rows(
                db_url,
                "SELECT predicted, connections, packets FROM mqtt.detection_summary "
                "WHERE capture = %s AND level = %s",
                (capture, level),
            )
            classes = Counter(r[2] for r in found)
            packets_of = Counter()
            for r in found:
                packets_of[r[2]] += r[1]
            assert {(p, n, m) for p, n, m in summary} == {(p, classes[p], packets_of[p]) for p in classes}

    # A rerun of one level replaces that level's rows and leaves the other level's alone.
    # Only these captures: other tests score captures of their own into the same tables.
    captures = (list(parsed),)
    counts = (
        "SELECT level, count(*), count(*) FILTER (WHERE run_id = 'first') FROM mqtt.detections "
        "WHERE capture = ANY(%s) GROUP BY level"
    )
    before = {level: n for level, n, _ in _rows(db_url, counts, captures)}
    code, _, err = run_job(
        "--captures", str(unlabelled), "--levels", "packet", "--run-id", "second", "--db-url", db_url
    )
    assert code == 0, err
    after = {level: (n, first) for level, n, first in _rows(db_url, counts, captures)}
    assert after == {
        "packet": (before["packet"], 0),
        "packet_context": (before["packet_context"],) * 2,
        "connection": (before["connection"],) * 2,
    }
    summary_runs = (
        "SELECT level, run_id FROM mqtt.detection_summary WHERE capture = ANY(%s) GROUP BY 1, 2 ORDER BY 1"
    )
    assert _rows(db_url, summary_runs, captures) == [
        ("connection", "first"),
        ("packet", "second"),
        ("packet_context", "first"),
    ]
    packet_ids = "SELECT detection_id FROM mqtt.detections WHERE level = 'packet'"
    assert not first_ids & {r[0] for r in _rows(db_url, packet_ids)}

    code, out, _ = run_job("--captures", str(unlabelled), "--only", "new", "--db-url", db_url)
    assert code == 0 and "nothing new to score" in out


def test_inputs_that_cannot_be_scored_fail_clearly(run_job, db_url, real_rows, tmp_path, champion_versions):
    code, _, err = run_job("--captures", str(real_rows[0]), "--db-url", db_url)
    assert code == 1 and "has no tcp.stream column" in err
    fake = tmp_path / "fake.pcap"
    fake.write_bytes(b"not a capture at all\n")
    code, _, err = run_job("--captures", str(fake), "--db-url", db_url)
    assert code == 1 and "neither a PCAP/PCAPNG capture nor a raw per-class CSV" in err
    code, _, err = run_job("--captures", str(tmp_path / "none-*.pcap"), "--db-url", db_url)
    assert code == 1 and "matches no file" in err
