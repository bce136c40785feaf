"""PostgreSQL tables of the tweet stream (created by the warehouse migrations), and their writes.

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

RUNS = f"{SCHEMA}.tweet_stream_runs"
TWEETS = f"{SCHEMA}.tweets"
COUNTS = f"{SCHEMA}.tweet_term_counts"
OFFSETS = f"{SCHEMA}.tweet_stream_offsets"
ENDS = f"{SCHEMA}.tweet_stream_ends"


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
