"""The consumer: tweets from Kafka into per-term counts per window, exactly once in effect.

Delivery is at least once: the consumer reads partitions it assigns itself
(no consumer group, so no rebalance wait), from offsets kept in PostgreSQL.
Each polled batch becomes one transaction that inserts the tweets into
``mqtt.tweets`` (primary key run id + tweet id, so a redelivered tweet inserts
nothing), adds the mentions of the tweets actually inserted to
``mqtt.tweet_term_counts``, records end-of-run markers, and only then moves the
stored offsets past the batch. A crash before the commit redelivers the batch,
which counts once; a replayed window never double counts.

The consumer follows the topic, not one run: a message is counted for the run
that produced it, as that run asked (terms, plurals, English-only terms,
window), so tweets a crashed consumer left behind are counted by the next one.
It stops when it has read the end marker of its own run on every partition, or
fails at its deadline saying how far it got.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import TopicPartition
from psycopg2.extras import Json, execute_values

from mqttids.runtime import broker
from mqttids.stream import tables as stream_tables
from mqttids.stream.tables import COUNTS, ENDS, OFFSETS, RUNS, TWEETS
from mqttids.stream.terms import TermCounter

log = logging.getLogger(__name__)

CONSUMER_NAME = "mqtt_tweet_stream"

# Only the tweets actually inserted (not redelivered ones) add to the counts, in the same statement.
STORE_TWEETS = f"""
WITH new AS (
  INSERT INTO {TWEETS} (run_id, tweet_id, text, created_at, author_id, lang, matching_rules, mentions,
                        window_start, kafka_partition, kafka_offset, published_at)
  VALUES %s ON CONFLICT (run_id, tweet_id) DO NOTHING
  RETURNING run_id, window_start, mentions),
added AS (
  INSERT INTO {COUNTS} (run_id, window_start, window_end, term, count)
  SELECT n.run_id, n.window_start, n.window_start + make_interval(secs => r.window_seconds),
         m.key, sum(m.value::bigint)
  FROM new n JOIN {RUNS} r USING (run_id) CROSS JOIN LATERAL jsonb_each_text(n.mentions) m
  GROUP BY 1, 2, 3, 4
  ON CONFLICT (run_id, window_start, term)
  DO UPDATE SET count = {COUNTS}.count + EXCLUDED.count, updated_at = clock_timestamp())
SELECT count(*) FROM new"""
STORE_OFFSETS = f"""
INSERT INTO {OFFSETS} (consumer, topic, kafka_partition, next_offset) VALUES %s
ON CONFLICT (consumer, topic, kafka_partition)
DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = clock_timestamp()"""


class ConsumerIncomplete(RuntimeError):
    """The deadline came before the run's end markers: its counts may be missing tweets."""


@dataclass
class ConsumeResult:
    messages: int = 0
    new_tweets: int = 0


def _window_start(created_at: datetime, seconds: int) -> datetime:
    epoch = int(created_at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _parse_time(text: str | None, fallback: float) -> datetime:
    if not text:
        return datetime.fromtimestamp(fallback, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class BatchWriter:
    """Turns polled records into rows and stores them with their offsets in one transaction."""

    def __init__(self, conn, topic: str, consumer: str) -> None:
        self.conn, self.topic, self.consumer = conn, topic, consumer
        self._counters: dict[tuple[str, str], TermCounter] = {}

    @staticmethod
    def _current(message: dict, runs: dict[str, stream_tables.RunInfo]) -> stream_tables.RunInfo | None:
        """The message's run, unless the message is from an unknown run or an earlier attempt of it."""
        run = runs.get(message["run_id"])
        return run if run is not None and run.attempt == message["attempt"] else None

    def _tweet_row(self, message: dict, run: stream_tables.RunInfo, partition: int, offset: int) -> tuple:
        key = (message["run_id"], run.attempt)
        if key not in self._counters:
            self._counters[key] = TermCounter(run.spec)
        created = _parse_time(message.get("created_at"), message["published_at"])
        return (
            message["run_id"],
            message["id"],
            message["text"],
            created,
            message.get("author_id"),
            message.get("lang"),
            message.get("matching_rules", []),
            Json(self._counters[key].count(message["text"], message.get("lang"))),
            _window_start(created, run.window_seconds),
            partition,
            offset,
            datetime.fromtimestamp(message["published_at"], UTC),
        )

    def store(self, records: dict, result: ConsumeResult) -> None:
        tweets: dict[tuple[str, str], tuple] = {}
        ends, offsets = [], {}
        decoded = [
            (tp, record, json.loads(record.value)) for tp, batch in records.items() for record in batch
        ]
        runs = stream_tables.run_infos(self.conn, {message["run_id"] for _, _, message in decoded})
        skipped = 0
        for tp, record, message in decoded:
            result.messages += 1
            offsets[tp.partition] = record.offset + 1
            run = self._current(message, runs)
            if run is None:
                skipped += 1
                continue
            if message["type"] == "end":
                ends.append((message["run_id"], self.topic, tp.partition, message["partitions"]))
            else:
                row = self._tweet_row(message, run, tp.partition, record.offset)
                tweets.setdefault((row[0], row[1]), row)
        if skipped:
            log.warning("skipped %d messages of unknown runs or of an earlier attempt of a run", skipped)
        with self.conn.cursor() as cur:
            if tweets:
                inserted = execute_values(
                    cur,
                    STORE_TWEETS,
                    list(tweets.values()),
                    page_size=len(tweets),
                    fetch=True,
                )
                result.new_tweets += sum(n for (n,) in inserted)
            if ends:
                execute_values(cur, f"INSERT INTO {ENDS} VALUES %s ON CONFLICT DO NOTHING", ends)
            execute_values(
                cur,
                STORE_OFFSETS,
                [(self.consumer, self.topic, p, o) for p, o in offsets.items()],
            )
        self.conn.commit()  # rows, markers and offsets together: offsets never run ahead of stored rows


def stored_offsets(conn, consumer: str, topic: str) -> dict[int, int]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT kafka_partition, next_offset FROM {OFFSETS} WHERE consumer = %s AND topic = %s",
            (consumer, topic),
        )
        return dict(cur.fetchall())


def run_complete(conn, run_id: str, topic: str) -> tuple[int, int | None]:
    """(end markers read, partitions the producer marked) for the run."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT count(*), max(partitions) FROM {ENDS} WHERE run_id = %s AND topic = %s", (run_id, topic)
        )
        read, total = cur.fetchone()
    conn.commit()
    return read, total


def _assign(kafka, conn, consumer: str, topic: str) -> None:
    """Read every partition of the topic, each from its stored offset (or from the beginning)."""
    partitions = None
    deadline = time.monotonic() + 30
    while not partitions:
        partitions = kafka.partitions_for_topic(topic)
        if not partitions and time.monotonic() > deadline:
            raise broker.BrokerUnreachable(f"topic {topic} has no partitions")
        if not partitions:
            time.sleep(0.2)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    kafka.assign(tps)
    stored = stored_offsets(conn, consumer, topic)
    for tp in tps:
        if tp.partition in stored:
            kafka.seek(tp, stored[tp.partition])
        else:
            kafka.seek_to_beginning(tp)
    log.info("reading %s partitions %s from offsets %s", topic, sorted(partitions), stored or "the beginning")


def consume(
    *,
    run_id: str,
    conn,
    bootstrap: str,
    topic: str,
    partitions: int,
    duration: float,
    consumer: str = CONSUMER_NAME,
    batch_size: int = 500,
) -> ConsumeResult:
    """Consume until the run's end markers are all stored; ConsumerIncomplete after ``duration`` s."""
    broker.ensure_topic(bootstrap, topic, partitions)
    kafka = broker.consumer(bootstrap)
    result = ConsumeResult()
    deadline = time.monotonic() + duration
    try:
        _assign(kafka, conn, consumer, topic)
        writer = BatchWriter(conn, topic, consumer)
        last_log = time.monotonic()
        while True:
            records = kafka.poll(timeout_ms=300, max_records=batch_size)
            if records:
                writer.store(records, result)
            read, total = run_complete(conn, run_id, topic)
            if total is not None and read >= total:
                log.info(
                    "run %s complete: %d messages, %d new tweets stored",
                    run_id,
                    result.messages,
                    result.new_tweets,
                )
                return result
            if time.monotonic() >= deadline:
                raise ConsumerIncomplete(
                    f"stopped after {duration:.0f} s before the end of run {run_id} "
                    f"({read} of {total or '?'} end markers read): is its producer running?"
                )
            if time.monotonic() - last_log >= 10:
                log.info("%d messages read, %d new tweets stored", result.messages, result.new_tweets)
                last_log = time.monotonic()
    finally:
        kafka.close()
