"""PostgreSQL tables of the ``mqtt`` schema, created idempotently.

``mqtt.packets`` is list-partitioned by ``batch_date``: a batch is loaded into
a fresh table and swapped in as that date's partition in one short
transaction, so a rerun replaces its batch atomically and a killed load
never leaves a half-loaded batch visible. The column list and CHECK
constraints come from :mod:`mqttids.schema`.
"""

from __future__ import annotations

from mqttids.schema import COLUMNS, LABELS, SPLITS, Column, bound_text

SCHEMA = "mqtt"
PACKETS = f"{SCHEMA}.packets"
REJECTED = f"{SCHEMA}.rejected_rows"
BATCHES = f"{SCHEMA}.ingest_batches"

# The tables the stages write their results to. Their DDL stays with the stage that writes them;
# the names live here because more than one stage reads them (the report reads them all, and
# stages never import each other). Each is documented in the stage's module and in COMMENTs.
AVG_MQTT_LEN = f"{SCHEMA}.avg_mqtt_len"  # analytics, keyed by run_id (the Airflow run id)
AVG_TCP_LEN = f"{SCHEMA}.avg_tcp_len_by_target"
TOP_TCP_FLAGS = f"{SCHEMA}.top_tcp_flags"
CLASS_HISTOGRAM = f"{SCHEMA}.class_histogram"
TOP_HDRFLAGS = f"{SCHEMA}.top_hdrflags_by_target"
MODEL_RUNS = f"{SCHEMA}.model_runs"  # learning, keyed by run_id (the Airflow run id)
MODEL_METRICS = f"{SCHEMA}.model_metrics"
CONFUSION = f"{SCHEMA}.confusion_matrix"
FEATURE_COLUMNS = f"{SCHEMA}.feature_columns"
CHAMPION = f"{SCHEMA}.champion"
CHAMPION_DECISIONS = f"{SCHEMA}.champion_decisions"
TWEET_STREAM_RUNS = f"{SCHEMA}.tweet_stream_runs"  # stream, keyed by run_id (the Airflow run id)
TWEET_TERM_COUNTS = f"{SCHEMA}.tweet_term_counts"

# Columns ingest adds in front of the 34 MQTTset columns.
LOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_date", "date NOT NULL"),
    ("split", "text NOT NULL"),
    ("source_file", "text NOT NULL"),
    ("part_no", "integer NOT NULL"),
)
PACKET_COLUMNS: tuple[str, ...] = tuple(n for n, _ in LOAD_COLUMNS) + tuple(c.name for c in COLUMNS)


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _check(col: Column) -> str | None:
    if col.name == "target":
        return f"target IN ({_sql_list(LABELS)})"
    bounds = []
    if col.lo is not None:
        bounds.append(f"{col.name} >= {bound_text(col.lo)}")
    if col.hi is not None:
        bounds.append(f"{col.name} <= {bound_text(col.hi)}")
    return " AND ".join(bounds) or None


def packets_columns_ddl() -> str:
    lines = [f"{name} {ddl}" for name, ddl in LOAD_COLUMNS]
    lines += [f"{c.name} {c.pg_type} NOT NULL" for c in COLUMNS]
    lines.append(f"CHECK (split IN ({_sql_list(SPLITS)}))")
    lines += [f"CHECK ({check})" for c in COLUMNS if (check := _check(c))]
    return ",\n  ".join(lines)


DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};

CREATE TABLE IF NOT EXISTS {PACKETS} (
  {packets_columns_ddl()}
) PARTITION BY LIST (batch_date);
COMMENT ON TABLE {PACKETS} IS
  'MQTTset packets, typed; one partition per ingest batch (batch_date).';

CREATE TABLE IF NOT EXISTS {REJECTED} (
  batch_date date NOT NULL,
  split text NOT NULL,
  source_file text NOT NULL,
  raw_line text NOT NULL,
  reason text NOT NULL,
  rejected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rejected_rows_batch ON {REJECTED} (batch_date);
COMMENT ON TABLE {REJECTED} IS
  'Rows that failed parsing or constraints, verbatim, with the reason.';

CREATE TABLE IF NOT EXISTS {BATCHES} (
  batch_date date PRIMARY KEY,
  sources text[] NOT NULL,
  rows_read bigint NOT NULL,
  rows_loaded bigint NOT NULL,
  rows_rejected bigint NOT NULL,
  seconds double precision NOT NULL,
  loaded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {BATCHES} IS 'One row per loaded batch: what was read, loaded and rejected.';
"""


def ensure_tables(conn) -> None:
    """Create the ``mqtt`` schema and its ingest tables if missing."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('mqttids.ddl'))")
        cur.execute(DDL)
    conn.commit()
