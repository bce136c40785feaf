"""The tweet consumer's failure paths on a real broker and PostgreSQL: bad messages, deadlines, no partitions.

Messages are written to the topic here with kafka-python, byte for byte, so the consumer meets
what a buggy or foreign producer could put there. Each test has its own topic and run id.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kafka import TopicPartition

from mqttids.runtime import broker
from mqttids.stream import tables as stream_tables
from mqttids.stream import tweet_consumer
from mqttids.stream.tables import DEAD_LETTER_BYTES
from mqttids.stream.terms import TermSpec

PARTITIONS = 3
SPEC = TermSpec(("flood", "dos"), english_only=frozenset({"dos"}))


@pytest.fixture()
def topic(kafka_bootstrap) -> str:
    name = f"consumer_{uuid.uuid4().hex[:8]}"
    broker.ensure_topic(kafka_bootstrap, name, PARTITIONS)
    return name


@pytest.fixture()
def conn(db_conn):
    return db_conn


def _run(conn, run_id: str) -> str:
    return stream_tables.register_run(conn, run_id, SPEC, 60, "replay")


def tweet(run_id: str, attempt: str, n: int, text: str = "a flood of packets") -> dict:
    return {
        "type": "tweet",
        "run_id": run_id,
        "attempt": attempt,
        "id": f"{run_id}-{n}",
        "text": text,
        "created_at": f"2026-01-01T00:00:{n % 60:02d}.000Z",
        "author_id": "42",
        "lang": "en",
        "matching_rules": ["flood"],
        "published_at": 1767225600.0 + n,
    }


def end(run_id: str, attempt: str) -> dict:
    return {"type": "end", "run_id": run_id, "attempt": attempt, "published": 0, "partitions": PARTITIONS}


def send(bootstrap: str, topic: str, values: list[tuple[int, bytes | None]]) -> list[tuple[int, int]]:
    """Write raw values to the given partitions; returns (partition, offset) of each, in order."""
    producer = broker.producer(bootstrap)
    try:
        futures = [producer.send(topic, key=b"k", value=v, partition=p) for p, v in values]
        producer.flush(timeout=30)
        return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    finally:
        producer.close(timeout=10)


def encoded(message: dict) -> bytes:
    return json.dumps(message).encode()


def stored_tweets(conn, run_id: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT tweet_id FROM mqtt.tweets WHERE run_id = %s", (run_id,))
        ids = {i for (i,) in cur.fetchall()}
    conn.commit()
    return ids


def dead_letters(conn, topic: str) -> dict[tuple[int, int], tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT kafka_partition, kafka_offset, run_id, raw, raw_bytes, reason "
            "FROM mqtt.tweet_stream_dead_letters WHERE topic = %s",
            (topic,),
        )
        rows = {
            (p, o): (run, None if raw is None else bytes(raw), size, reason)
            for p, o, run, raw, size, reason in cur
        }
    conn.commit()
    return rows


def consume(kafka_bootstrap, conn, topic, run_id, duration=30.0):
    return tweet_consumer.consume(
        run_id=run_id,
        conn=conn,
        bootstrap=kafka_bootstrap,
        topic=topic,
        partitions=PARTITIONS,
        duration=duration,
    )


def test_malformed_messages_are_quarantined_and_the_stream_goes_on(kafka_bootstrap, conn, topic):
    run_id = f"bad_{topic}"
    attempt = _run(conn, run_id)
    huge = encoded({**tweet(run_id, attempt, 90), "text": "x" * 10_000, "published_at": "soon"})
    bad = {
        b"\xff\xfe not utf-8": "not UTF-8",
        b"{not json": "not JSON",
        b"[1, 2, 3]": "a JSON list, not an object",
        encoded(
            {k: v for k, v in tweet(run_id, attempt, 91).items() if k != "text"}
        ): "field 'text' is missing",
        encoded({**tweet(run_id, attempt, 92), "published_at": "yesterday"}): "field 'published_at' is str",
        encoded({**tweet(run_id, attempt, 93), "text": "nul \u0000 inside"}): "NUL character",
        encoded({**tweet(run_id, attempt, 94), "created_at": "last tuesday"}): "bad time",
        encoded({**tweet(run_id, attempt, 95), "type": "retweet"}): "unknown message type 'retweet'",
        encoded({**end(run_id, attempt), "partitions": 2**40}): "field 'partitions' must be within",
        huge: "field 'published_at' is str",
    }
    good = [tweet(run_id, attempt, n) for n in range(9)]
    values: list[tuple[int, bytes | None]] = []
    for i, raw in enumerate(bad):  # bad messages between good ones, on every partition
        values += [(i % PARTITIONS, encoded(good[i % len(good)])), (i % PARTITIONS, raw)]
    values.append((1, None))  # a message without a value (a tombstone)
    values += [(p, encoded(end(run_id, attempt))) for p in range(PARTITIONS)]
    placed = send(kafka_bootstrap, topic, values)

    result = consume(kafka_bootstrap, conn, topic, run_id)

    assert result.quarantined == len(bad) + 1
    assert result.messages == len(values)
    assert stored_tweets(conn, run_id) == {t["id"] for t in good}
    letters = dead_letters(conn, topic)
    expected_places = [placed[2 * i + 1] for i in range(len(bad))] + [placed[2 * len(bad)]]
    assert set(letters) == set(expected_places)
    for place, (raw, reason) in zip(expected_places, bad.items(), strict=False):
        named, kept, size, why = letters[place]
        assert reason in why, (why, reason)
        assert kept == raw[:DEAD_LETTER_BYTES] and size == len(raw)
        assert named in (run_id, None)
    assert letters[placed[2 * len(bad) - 1]][1] == huge[:DEAD_LETTER_BYTES] and len(huge) > DEAD_LETTER_BYTES
    assert letters[placed[2 * len(bad)]][1:] == (None, 0, "the message has no value")
    # The offsets moved past everything, quarantined messages included.
    ends = {p: o + 1 for p, o in placed[-PARTITIONS:]}
    assert tweet_consumer.stored_offsets(conn, tweet_consumer.CONSUMER_NAME, topic) == ends

    # A redelivery (offsets rewound) quarantines nothing twice and stores nothing twice.
    with conn.cursor() as cur:
        cur.execute("UPDATE mqtt.tweet_stream_offsets SET next_offset = 0 WHERE topic = %s", (topic,))
    conn.commit()
    again = consume(kafka_bootstrap, conn, topic, run_id)
    assert (again.messages, again.new_tweets, again.quarantined) == (len(values), 0, len(bad) + 1)
    assert dead_letters(conn, topic) == letters
    assert stored_tweets(conn, run_id) == {t["id"] for t in good}


def test_the_deadline_fails_saying_how_far_it_got_and_keeps_what_it_stored(kafka_bootstrap, conn, topic):
    run_id = f"late_{topic}"
    attempt = _run(conn, run_id)
    send(
        kafka_bootstrap, topic, [(0, encoded(tweet(run_id, attempt, 1))), (0, encoded(end(run_id, attempt)))]
    )
    started = time.monotonic()
    with pytest.raises(
        tweet_consumer.ConsumerIncomplete, match=r"\(1 of 3 end markers read\): is its producer"
    ):
        consume(kafka_bootstrap, conn, topic, run_id, duration=2.0)
    assert 2.0 <= time.monotonic() - started < 20
    assert stored_tweets(conn, run_id) == {f"{run_id}-1"}  # what arrived before the deadline is kept

    # The rest arrives later: the next consumer resumes from the stored offsets and completes.
    rest = [(p, encoded(end(run_id, attempt))) for p in (1, 2)] + [(1, encoded(tweet(run_id, attempt, 2)))]
    send(kafka_bootstrap, topic, rest)
    result = consume(kafka_bootstrap, conn, topic, run_id)
    assert result.messages == 3 and result.new_tweets == 1
    assert stored_tweets(conn, run_id) == {f"{run_id}-1", f"{run_id}-2"}


def test_no_end_marker_at_all_names_an_unknown_total(kafka_bootstrap, conn, topic):
    run_id = f"silent_{topic}"
    _run(conn, run_id)
    with pytest.raises(tweet_consumer.ConsumerIncomplete, match=r"\(0 of \? end markers read\)"):
        consume(kafka_bootstrap, conn, topic, run_id, duration=1.0)


def test_a_topic_without_partitions_times_out_clearly(kafka_bootstrap, conn):
    kafka = broker.consumer(kafka_bootstrap)
    missing = f"absent_{uuid.uuid4().hex[:8]}"
    try:
        started = time.monotonic()
        with pytest.raises(broker.BrokerUnreachable, match=f"topic {missing} has no partitions after 1 s"):
            tweet_consumer._assign(kafka, conn, tweet_consumer.CONSUMER_NAME, missing, wait=1.0)
        assert 1.0 <= time.monotonic() - started < 15
        assert kafka.assignment() == set()
        assert TopicPartition(missing, 0) not in kafka.assignment()
    finally:
        kafka.close()
