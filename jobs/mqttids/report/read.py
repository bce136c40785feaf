"""What one run left in the warehouse, read back with plain SELECTs.

A pipeline run is one Airflow run id: analytics and learning stamp their rows with it
(``run_id``), ingest keys its batch by date (``batch_date``, the run's ``ds``). A table a stage
has not created yet (no learning run so far, say) reads as no rows, never as an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from mqttids.warehouse import tables

EXAMPLE_CHARS = 160  # an example rejected line is cut to this length on the page


def exists(cur, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    return cur.fetchone()[0]


def rows(cur, table: str, sql: str, args: tuple = ()) -> list[tuple]:
    """``sql`` (with ``{t}`` for the table) when the table exists; else no rows."""
    if not exists(cur, table):
        return []
    cur.execute(sql.format(t=table), args)
    return cur.fetchall()


@dataclass
class PipelineRun:
    """Everything the report shows of one mqtt_pipeline run."""

    run_id: str
    batch_date: date | None
    batch: tuple | None = None  # rows_read, rows_loaded, rows_rejected, seconds, sources
    counts: list[tuple] = field(default_factory=list)  # split, target, packets
    rejects: list[tuple] = field(default_factory=list)  # split, reason, rows, example line
    avg_mqtt_len: list[tuple] = field(default_factory=list)  # split, packets, avg_mqtt_len
    avg_tcp_len: list[tuple] = field(default_factory=list)  # split, target, packets, avg_tcp_len
    top_flags: list[tuple] = field(default_factory=list)  # split, top_x, rank, tcp_flags_hex, packets
    histogram: list[tuple] = field(default_factory=list)  # split, target, packets, share
    hdrflags: list[tuple] = field(default_factory=list)  # split, target, mqtt_hdrflags_hex, packets, share
    models: list[tuple] = field(default_factory=list)  # see MODELS_SQL
    recall: list[tuple] = field(default_factory=list)  # model, label, recall
    confusion: dict[str, list[tuple]] = field(default_factory=dict)  # model -> actual, predicted, rows
    decision: tuple | None = None  # see DECISION_COLUMNS
    history: list[tuple] = field(default_factory=list)  # decided_at, run_id, model, macro F1, promoted

    @property
    def empty(self) -> bool:
        return self.batch is None and not self.avg_mqtt_len and not self.models


SPLIT_ORDER = "CASE split WHEN 'train' THEN 0 WHEN 'test' THEN 1 ELSE 2 END"
MODEL_COLUMNS = (
    "model",
    "accuracy",
    "macro F1",
    "unseen macro F1",
    "weighted F1",
    "test rows",
)
# A model as the report names it: its level follows unless it is the packet level.
MODEL_NAME = "model || CASE WHEN level = 'packet' THEN '' ELSE ' (' || level || ')' END"
MODELS_SQL = f"""
SELECT r.{MODEL_NAME.replace("level", "r.level")},
       max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'accuracy'),
       max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'macro_f1'),
       max(m.value) FILTER (WHERE m.subset = 'unseen' AND m.metric = 'macro_f1'),
       max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'weighted_f1'),
       r.test_rows
FROM {{t}} r JOIN {tables.MODEL_METRICS} m USING (run_id, level, model)
WHERE r.run_id = %s
GROUP BY r.level, r.model, r.test_rows
ORDER BY 3 DESC NULLS LAST, 1
"""  # {t}: the model_runs table, filled in by rows()
DECISION_COLUMNS = (
    "model",
    "challenger macro F1",
    "champion run",
    "champion model",
    "champion macro F1",
    "promoted",
    "reason",
    "decided at",
)


def batch_date_of(cur, run_id: str) -> date | None:
    """The batch a run read: its analytics rows say so, else its models (a run keys ingest by date)."""
    for table in (tables.AVG_MQTT_LEN, tables.MODEL_RUNS):
        found = rows(cur, table, "SELECT max(batch_to) FROM {t} WHERE run_id = %s", (run_id,))
        if found and found[0][0] is not None:
            return found[0][0]
    return None


def pipeline_run(conn, run_id: str, batch_date: date | None = None) -> PipelineRun:
    """Read every table of one pipeline run; ``batch_date`` defaults to the batch the run read."""
    with conn.cursor() as cur:
        day = batch_date or batch_date_of(cur, run_id)
        run = PipelineRun(run_id, day)
        _ingest(cur, run)
        _analytics(cur, run)
        _learning(cur, run)
    conn.rollback()  # read-only: end the transaction the SELECTs opened
    return run


def _ingest(cur, run: PipelineRun) -> None:
    if run.batch_date is None:
        return
    day = (run.batch_date,)
    found = rows(
        cur,
        tables.BATCHES,
        "SELECT rows_read, rows_loaded, rows_rejected, seconds, sources FROM {t} WHERE batch_date = %s",
        day,
    )
    run.batch = found[0] if found else None
    run.counts = rows(
        cur,
        tables.PACKETS,
        "SELECT split, target, count(*) FROM {t} WHERE batch_date = %s GROUP BY split, target "
        f"ORDER BY {SPLIT_ORDER}, 3 DESC, target",
        day,
    )
    run.rejects = rows(
        cur,
        tables.REJECTED,
        f"SELECT split, reason, count(*), left(min(raw_line), {EXAMPLE_CHARS}) FROM {{t}} "
        f"WHERE batch_date = %s GROUP BY split, reason ORDER BY 3 DESC, {SPLIT_ORDER}, reason",
        day,
    )


def _analytics(cur, run: PipelineRun) -> None:
    rid = (run.run_id,)
    run.avg_mqtt_len = rows(
        cur,
        tables.AVG_MQTT_LEN,
        f"SELECT split, packets, avg_mqtt_len FROM {{t}} WHERE run_id = %s ORDER BY {SPLIT_ORDER}",
        rid,
    )
    run.avg_tcp_len = rows(
        cur,
        tables.AVG_TCP_LEN,
        "SELECT split, target, packets, avg_tcp_len FROM {t} WHERE run_id = %s "
        f"ORDER BY {SPLIT_ORDER}, target",
        rid,
    )
    run.top_flags = rows(
        cur,
        tables.TOP_TCP_FLAGS,
        "SELECT split, top_x, rank, tcp_flags_hex, packets FROM {t} "
        f"WHERE run_id = %s ORDER BY {SPLIT_ORDER}, rank, tcp_flags",
        rid,
    )
    run.histogram = rows(
        cur,
        tables.CLASS_HISTOGRAM,
        "SELECT split, target, packets, share FROM {t} WHERE run_id = %s "
        f"ORDER BY {SPLIT_ORDER}, packets DESC, target",
        rid,
    )
    run.hdrflags = rows(
        cur,
        tables.TOP_HDRFLAGS,
        "SELECT split, target, mqtt_hdrflags_hex, packets, share FROM {t} "
        f"WHERE run_id = %s ORDER BY {SPLIT_ORDER}, target, mqtt_hdrflags",
        rid,
    )


def _learning(cur, run: PipelineRun) -> None:
    rid = (run.run_id,)
    if exists(cur, tables.MODEL_METRICS):
        run.models = rows(cur, tables.MODEL_RUNS, MODELS_SQL, rid)
        run.recall = rows(
            cur,
            tables.MODEL_METRICS,
            f"SELECT {MODEL_NAME} AS name, label, value FROM {{t}} WHERE run_id = %s "
            "AND subset = 'test' AND metric = 'recall' ORDER BY name, label",
            rid,
        )
    for model, actual, predicted, n in rows(
        cur,
        tables.CONFUSION,
        f"SELECT {MODEL_NAME} AS name, actual, predicted, rows FROM {{t}} WHERE run_id = %s "
        "AND subset = 'test' ORDER BY name, actual, predicted",
        rid,
    ):
        run.confusion.setdefault(model, []).append((actual, predicted, n))
    found = rows(
        cur,
        tables.CHAMPION_DECISIONS,
        "SELECT model, challenger_macro_f1, champion_run_id, champion_model, "
        "champion_macro_f1, promoted, reason, decided_at FROM {t} WHERE run_id = %s "
        "ORDER BY decided_at DESC LIMIT 1",
        rid,
    )
    run.decision = found[0] if found else None
    run.history = rows(
        cur,
        tables.CHAMPION_DECISIONS,
        "SELECT decided_at, run_id, model, challenger_macro_f1, promoted "
        "FROM {t} WHERE promoted ORDER BY decided_at",
        (),
    )


@dataclass
class StreamRun:
    """Everything the report shows of one mqtt_tweet_stream run."""

    run_id: str
    info: tuple | None = None  # terms, plurals, window_seconds, source, started_at, published
    counts: list[tuple] = field(default_factory=list)  # window_start, term, count


def stream_run(conn, run_id: str) -> StreamRun:
    """The stream run's settings and its mentions per window and term."""
    run = StreamRun(run_id)
    with conn.cursor() as cur:
        found = rows(
            cur,
            tables.TWEET_STREAM_RUNS,
            "SELECT terms, plurals, window_seconds, source, started_at, published FROM {t} WHERE run_id = %s",
            (run_id,),
        )
        run.info = found[0] if found else None
        run.counts = rows(
            cur,
            tables.TWEET_TERM_COUNTS,
            "SELECT window_start, term, count FROM {t} WHERE run_id = %s ORDER BY window_start, term",
            (run_id,),
        )
    conn.rollback()
    return run
