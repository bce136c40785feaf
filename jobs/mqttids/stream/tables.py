"""PostgreSQL tables of the tweet stream, created idempotently.

``mqtt.tweet_stream_runs`` holds what each run counts (terms, plurals, the
English-only terms, the window), so the consumer counts every message the way
the run that produced it asked, even a late one from an earlier run.
``mqtt.tweets`` keeps every tweet the stream delivered, once per run, with its
mentions per term: it is the audit trail and the de-duplication key that makes
redelivered messages harmless. ``mqtt.tweet_term_counts`` is the answer, per
run, window and term. ``mqtt.tweet_stream_offsets`` is where the consumer's
Kafka offsets are committed, in the same transaction as the rows they cover;
``mqtt.tweet_stream_ends`` records the producer's end-of-run marker per partition.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from mqttids.stream.terms import TermSpec
from mqttids.warehouse.tables import SCHEMA
from mqttids.warehouse.tables import TWEET_STREAM_RUNS as RUNS
from mqttids.warehouse.tables import TWEET_TERM_COUNTS as COUNTS

TWEETS = f"{SCHEMA}.tweets"
OFFSETS = f"{SCHEMA}.tweet_stream_offsets"
ENDS = f"{SCHEMA}.tweet_stream_ends"

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};

CREATE TABLE IF NOT EXISTS {RUNS} (
  run_id text PRIMARY KEY,
  terms text[] NOT NULL,
  plurals boolean NOT NULL,
  english_only text[] NOT NULL,
  window_seconds integer NOT NULL CHECK (window_seconds > 0),
  source text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  attempt text NOT NULL,
  published bigint,
  produced_at timestamptz
);
COMMENT ON TABLE {RUNS} IS
  'One row per tweet-stream run: what it counts; published is set when the producer ends.';

CREATE TABLE IF NOT EXISTS {TWEETS} (
  run_id text NOT NULL REFERENCES {RUNS},
  tweet_id text NOT NULL,
  text text NOT NULL,
  created_at timestamptz NOT NULL,
  author_id text,
  lang text,
  matching_rules text[] NOT NULL,
  mentions jsonb NOT NULL,
  window_start timestamptz NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset bigint NOT NULL,
  published_at timestamptz NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (run_id, tweet_id)
);
COMMENT ON TABLE {TWEETS} IS
  'Every tweet the stream delivered, once per run, with its mentions per term (audit).';

CREATE TABLE IF NOT EXISTS {COUNTS} (
  run_id text NOT NULL REFERENCES {RUNS},
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  term text NOT NULL,
  count bigint NOT NULL CHECK (count >= 0),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (run_id, window_start, term)
);
COMMENT ON TABLE {COUNTS} IS
  'Mentions of each term per run and fixed window of created_at (zero rows for windows with tweets).';

CREATE TABLE IF NOT EXISTS {OFFSETS} (
  consumer text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, topic, kafka_partition)
);
COMMENT ON TABLE {OFFSETS} IS
  'Committed Kafka offsets of the tweet consumer, stored with the rows they cover.';

CREATE TABLE IF NOT EXISTS {ENDS} (
  run_id text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  partitions integer NOT NULL,
  PRIMARY KEY (run_id, topic, kafka_partition)
);
COMMENT ON TABLE {ENDS} IS 'End-of-run markers the consumer has read, one per partition.';
"""


def ensure_tables(conn) -> None:
    """Create the stream tables if missing."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('mqttids.ddl'))")
        cur.execute(DDL)
    conn.commit()


@dataclass(frozen=True)
class RunInfo:
    """What a run counts, and which producer attempt is current (older attempts' messages are ignored)."""

    spec: TermSpec
    window_seconds: int
    attempt: str


def register_run(conn, run_id: str, spec: TermSpec, window_seconds: int, source: str) -> str:
    """Record what the run counts; a rerun of the same run id starts afresh. Returns the new attempt id."""
    attempt = uuid.uuid4().hex
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {COUNTS} WHERE run_id = %s", (run_id,))
        cur.execute(f"DELETE FROM {TWEETS} WHERE run_id = %s", (run_id,))
        cur.execute(f"DELETE FROM {ENDS} WHERE run_id = %s", (run_id,))
        cur.execute(
            f"""INSERT INTO {RUNS} (run_id, terms, plurals, english_only, window_seconds, source, attempt)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (run_id) DO UPDATE SET terms = EXCLUDED.terms, plurals = EXCLUDED.plurals,
                  english_only = EXCLUDED.english_only, window_seconds = EXCLUDED.window_seconds,
                  source = EXCLUDED.source, attempt = EXCLUDED.attempt, started_at = now(),
                  published = NULL, produced_at = NULL""",
            (
                run_id,
                list(spec.terms),
                spec.plurals,
                sorted(spec.english_only),
                window_seconds,
                source,
                attempt,
            ),
        )
    conn.commit()
    return attempt


def finish_run(conn, run_id: str, published: int) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {RUNS} SET published = %s, produced_at = now() WHERE run_id = %s", (published, run_id)
        )
    conn.commit()


def run_infos(conn, run_ids: Iterable[str]) -> dict[str, RunInfo]:
    """The registered runs among ``run_ids``."""
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT run_id, terms, plurals, english_only, window_seconds, attempt
                FROM {RUNS} WHERE run_id = ANY(%s)""",
            (list(run_ids),),
        )
        return {
            run_id: RunInfo(TermSpec(tuple(terms), plurals, frozenset(english)), window, attempt)
            for run_id, terms, plurals, english, window, attempt in cur.fetchall()
        }


def run_totals(conn, run_id: str) -> dict[str, int]:
    """Mentions per term over the whole run, every term of the run included (zeros too)."""
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT t.term, coalesce(sum(c.count), 0)::bigint
                FROM {RUNS} r CROSS JOIN LATERAL unnest(r.terms) WITH ORDINALITY AS t(term, n)
                LEFT JOIN {COUNTS} c ON c.run_id = r.run_id AND c.term = t.term
                WHERE r.run_id = %s GROUP BY t.term, t.n ORDER BY t.n""",
            (run_id,),
        )
        return dict(cur.fetchall())
