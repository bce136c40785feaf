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

A message it cannot decode (not UTF-8, not JSON, a field missing or of the wrong
type, text PostgreSQL cannot store) would otherwise fail every later run at the
same offset. It goes to ``mqtt.tweet_stream_dead_letters`` instead, with its
partition, offset, first bytes and the reason, in the same transaction as the
offsets that move past it, and the stream goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import TopicPartition
from psycopg2.extras import Json, execute_values

from mqttids.runtime import broker
from mqttids.stream import tables as stream_tables
from mqttids.stream.tables import COUNTS, DEAD_LETTER_BYTES, DEAD_LETTERS, ENDS, OFFSETS, RUNS, TWEETS
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
STORE_DEAD_LETTERS = f"""
INSERT INTO {DEAD_LETTERS} (consumer, topic, kafka_partition, kafka_offset, run_id, raw, raw_bytes, reason)
VALUES %s ON CONFLICT DO NOTHING"""
# The partition assignment waits this long for the topic's partitions to appear.
PARTITIONS_WAIT = 30.0
MAX_PARTITIONS = 100_000  # an end marker claiming more is not one of ours (and would overflow the column)


class ConsumerIncomplete(RuntimeError):
    """The deadline came before the run's end markers: its counts may be missing tweets."""


class Undecodable(ValueError):
    """A message that is not a tweet or end marker of the stream's format; the text says why."""


@dataclass
class ConsumeResult:
    messages: int = 0
    new_tweets: int = 0
    quarantined: int = 0


def _window_start(created_at: datetime, seconds: int) -> datetime:
    epoch = int(created_at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _parse_time(text: str | None, fallback: float) -> datetime:
    if not text:
        return datetime.fromtimestamp(fallback, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _field(message: dict, name: str, kinds: tuple[type, ...], optional: bool = False):
    value = message.get(name)
    if value is None and optional:
        return None
    if name not in message:
        raise Undecodable(f"field {name!r} is missing")
    if not isinstance(value, kinds) or isinstance(value, bool):
        wanted = " or ".join(kind.__name__ for kind in kinds)
        raise Undecodable(f"field {name!r} is {type(value).__name__}, not {wanted}")
    if isinstance(value, str) and "\x00" in value:
        raise Undecodable(f"field {name!r} holds a NUL character, which PostgreSQL text cannot store")
    return value


def decode(value: bytes | None) -> dict:
    """The message as the producer wrote it, checked field by field; Undecodable says what is wrong."""
    if value is None:
        raise Undecodable("the message has no value")
    try:
        message = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise Undecodable(f"not UTF-8: {err}") from err
    except json.JSONDecodeError as err:
        raise Undecodable(f"not JSON: {err}") from err
    if not isinstance(message, dict):
        raise Undecodable(f"a JSON {type(message).__name__}, not an object")
    kind = _field(message, "type", (str,))
    _field(message, "run_id", (str,))
    _field(message, "attempt", (str,))
    if kind == "end":
        if not 1 <= _field(message, "partitions", (int,)) <= MAX_PARTITIONS:
            raise Undecodable(f"field 'partitions' must be within 1..{MAX_PARTITIONS}")
        return message
    if kind != "tweet":
        raise Undecodable(f"unknown message type {kind!r}")
    for name in ("id", "text"):
        _field(message, name, (str,))
    for name in ("author_id", "lang", "created_at"):
        _field(message, name, (str,), optional=True)
    rules = _field(message, "matching_rules", (list,), optional=True) or []
    if not all(isinstance(rule, str) and "\x00" not in rule for rule in rules):
        raise Undecodable("field 'matching_rules' must be a list of strings")
    published = _field(message, "published_at", (int, float))
    try:
        _window_start(_parse_time(message.get("created_at"), published), 1)
        datetime.fromtimestamp(published, UTC)
    except (ValueError, OverflowError, OSError) as err:
        raise Undecodable(f"bad time: {err}") from err
    return message


def _dead_letter(consumer: str, topic: str, partition: int, record, reason: str) -> tuple:
    raw = record.value
    run_id = None
    with contextlib.suppress(ValueError, TypeError, AttributeError):  # the run it names, when it names one
        named = json.loads(raw).get("run_id")
        run_id = named if isinstance(named, str) and "\x00" not in named else None
    log.warning("quarantined the message at %s[%d] offset %d: %s", topic, partition, record.offset, reason)
    return (
        consumer,
        topic,
        partition,
        record.offset,
        run_id,
        None if raw is None else raw[:DEAD_LETTER_BYTES],
        0 if raw is None else len(raw),
        reason,
    )


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
        ends, offsets, dead = [], {}, []
        decoded = []
        for tp, batch in records.items():
            for record in batch:
                result.messages += 1
                offsets[tp.partition] = record.offset + 1
                try:
                    decoded.append((tp, record, decode(record.value)))
                except Undecodable as err:
                    dead.append(_dead_letter(self.consumer, self.topic, tp.partition, record, str(err)))
        runs = stream_tables.run_infos(self.conn, {message["run_id"] for _, _, message in decoded})
        skipped = 0
        for tp, record, message in decoded:
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
            if dead:
                execute_values(cur, STORE_DEAD_LETTERS, dead)
                result.quarantined += len(dead)
            execute_values(
                cur,
                STORE_OFFSETS,
                [(self.consumer, self.topic, p, o) for p, o in offsets.items()],
            )
        # Rows, markers, dead letters and offsets together: offsets never run ahead of what they cover.
        self.conn.commit()


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


def _assign(kafka, conn, consumer: str, topic: str, wait: float = PARTITIONS_WAIT) -> None:
    """Read every partition of the topic, each from its stored offset (or from the beginning)."""
    partitions = None
    deadline = time.monotonic() + wait
    while not partitions:
        partitions = kafka.partitions_for_topic(topic)
        if not partitions and time.monotonic() > deadline:
            raise broker.BrokerUnreachable(f"topic {topic} has no partitions after {wait:.0f} s")
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
                    "run %s complete: %d messages, %d new tweets stored, %d quarantined",
                    run_id,
                    result.messages,
                    result.new_tweets,
                    result.quarantined,
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
