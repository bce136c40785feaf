"""The live consumer's per-connection state: idle connections leave memory, and come back intact.

Genuine packets of a corpus capture go through the consumer's batch scorer (no model: state
only) as Kafka records, in three batches: connection A's first half, then a second connection
B idle-limit seconds later, then A's second half. A must leave memory after B's batch and be
read back from ``mqtt.detection_state`` when it speaks again, ending with exactly the state of a
consumer that never evicted it.
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import TopicPartition

from detection.records import as_records
from mqttids.detection import consumer, packets, producer

IDLE = 60.0


@pytest.fixture(scope="module")
def two_connections(corpus) -> tuple[list[dict], list[dict]]:
    """The packets of the two busiest connections of a genuine capture."""
    capture = next(f.path for f in corpus.files if f.label == "legitimate" and f.split == "test")
    parsed = producer.replay_packets(Path(capture), [corpus.mqtt_port])
    by_stream: dict[int, list[dict]] = {}
    for p in (p for p in parsed if p[packets.STREAM] is not None):
        by_stream.setdefault(int(p[packets.STREAM]), []).append(p)
    a, b = sorted(by_stream.values(), key=len, reverse=True)[:2]
    assert len(a) >= 4 and b
    return a, b


def _batches(a: list[dict], b: list[dict]) -> list[list[dict]]:
    """A's first half; B, shifted to start after the idle limit; A's second half, after B."""
    half = len(a) // 2
    shift = a[half - 1][packets.EPOCH] + IDLE + 10 - b[0][packets.EPOCH]
    moved_b = [{**p, packets.EPOCH: p[packets.EPOCH] + shift} for p in b]
    resume = moved_b[-1][packets.EPOCH] + 1 - a[half][packets.EPOCH]
    rest_a = [{**p, packets.EPOCH: p[packets.EPOCH] + resume} for p in a[half:]]
    return [a[:half], moved_b, rest_a]


def _feed(scorer: consumer.BatchScorer, batches: list[list[dict]], after_each=None) -> None:
    tp, offset = TopicPartition("live-state", 0), 0
    for n, batch in enumerate(batches):
        records = as_records([producer.message("site", p) for p in batch], offset)
        offset += len(records)
        scorer.store({tp: records}, consumer.ConsumeResult())
        if after_each:
            after_each(n, scorer)


def test_an_idle_connection_leaves_memory_and_returns_with_its_state(db_conn, two_connections, monkeypatch):
    a, b = two_connections
    key_a, key_b = ("site", int(a[0][packets.STREAM])), ("site", int(b[0][packets.STREAM]))
    batches = _batches(a, b)
    in_memory = []

    monkeypatch.setenv("MQTTIDS_DETECT_IDLE_SECONDS", str(IDLE))
    evicting = consumer.BatchScorer(db_conn, "live-state", f"evicting-{uuid.uuid4().hex[:6]}", [])
    _feed(evicting, batches, lambda n, s: in_memory.append(set(s.connections)))
    assert in_memory == [{key_a}, {key_b}, {key_a, key_b}]

    monkeypatch.setenv("MQTTIDS_DETECT_IDLE_SECONDS", str(1e9))
    keeping = consumer.BatchScorer(db_conn, "live-state", f"keeping-{uuid.uuid4().hex[:6]}", [])
    _feed(keeping, batches)
    assert evicting.connections[key_a].packets == len(a)
    # Equal but for the latest packet's publish time (each feed publishes anew).
    ended, kept = evicting.connections[key_a], keeping.connections[key_a]
    assert ended.place[:2] == kept.place[:2]
    assert pickle.dumps(replace(ended, place=None)) == pickle.dumps(replace(kept, place=None))
    # The capture's peers are counted alike whether or not a connection left memory.
    assert pickle.dumps(evicting.peers["site"]) == pickle.dumps(keeping.peers["site"])


def test_a_restarted_consumer_that_reads_only_end_markers_closes_the_capture(db_conn, two_connections):
    """After a restart, a batch of end markers alone reads the capture's connections back and
    closes them; the capture's peers, not in memory and unchanged, are left as stored."""
    a, _ = two_connections
    name, tp = f"ends-only-{uuid.uuid4().hex[:6]}", TopicPartition("live-state", 0)
    first = consumer.BatchScorer(db_conn, "live-state", name, [])
    first.store({tp: as_records([producer.message("site", p) for p in a])}, consumer.ConsumeResult())
    stored = pickle.dumps(first.peers["site"])

    restarted = consumer.BatchScorer(db_conn, "live-state", name, [])
    ends = as_records([producer.end_marker("site", 1)], len(a))
    restarted.store({tp: ends}, consumer.ConsumeResult())
    assert not restarted.connections and not restarted.peers
    with db_conn.cursor() as cur:
        cur.execute("SELECT state FROM mqtt.detection_peers WHERE consumer = %s", (name,))
        assert [bytes(r[0]) for r in cur.fetchall()] == [stored]
