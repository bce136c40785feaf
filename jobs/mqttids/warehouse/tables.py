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

# Columns ingest adds in front of the 34 MQTTset columns.
LOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_date", "date NOT NULL"),
    ("split", "text NOT NULL"),
    ("source_file", "text NOT NULL"),
    ("part_no", "integer NOT NULL"),
)
# Columns that tie a packet to its TCP connection (revision 0002): NULL for the train/test CSVs,
# which dropped them. Built by ingest from tcp.stream, frame.number and frame.time_epoch.
CONNECTION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("connection_id", "bigint", "file number in ingest_batches.sources * 2^32 + tshark tcp.stream"),
    ("capture_time", "timestamptz", "when the packet was captured (frame.time_epoch)"),
    ("connection_seq", "integer", "position of the packet in its connection, from 1 (frame.number order)"),
)
PACKET_COLUMNS: tuple[str, ...] = (
    tuple(n for n, _ in LOAD_COLUMNS)
    + tuple(c.name for c in COLUMNS)
    + tuple(n for n, _, _ in CONNECTION_COLUMNS)
)
# Unlabelled packets come only from captures that match no class (they have a capture time).
UNLABELLED_CHECK = (
    "CONSTRAINT packets_unlabelled_capture CHECK (target IS NOT NULL OR capture_time IS NOT NULL)"
)


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
    lines += [f"{c.name} {c.pg_type}{'' if c.name == 'target' else ' NOT NULL'}" for c in COLUMNS]
    lines += [f"{name} {pg_type}" for name, pg_type, _ in CONNECTION_COLUMNS]
    lines.append(f"CHECK (split IN ({_sql_list(SPLITS)}))")
    lines.append(UNLABELLED_CHECK)
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
  loaded_at timestamptz NOT NULL DEFAULT now(),
  truncated_files text[] NOT NULL DEFAULT '{{}}'
);
COMMENT ON TABLE {BATCHES} IS 'One row per loaded batch: what was read, loaded and rejected.';
"""


# Revision 0002 for a warehouse created before it (the same statements as
# migrations/versions/0002_connection_columns.py): connection columns, unlabelled capture rows,
# and truncated captures per batch.
UPGRADE_0002 = f"""
ALTER TABLE {PACKETS} ADD COLUMN IF NOT EXISTS connection_id bigint;
ALTER TABLE {PACKETS} ADD COLUMN IF NOT EXISTS capture_time timestamptz;
ALTER TABLE {PACKETS} ADD COLUMN IF NOT EXISTS connection_seq integer;
ALTER TABLE {PACKETS} ALTER COLUMN target DROP NOT NULL;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'packets_unlabelled_capture'
                 AND conrelid = '{PACKETS}'::regclass) THEN
    ALTER TABLE {PACKETS} ADD CONSTRAINT packets_unlabelled_capture
      CHECK (target IS NOT NULL OR capture_time IS NOT NULL);
  END IF;
END $$;
ALTER TABLE {BATCHES} ADD COLUMN IF NOT EXISTS truncated_files text[] NOT NULL DEFAULT '{{}}';
"""
COMMENTS = "\n".join(
    [f"COMMENT ON COLUMN {PACKETS}.{name} IS '{doc}';" for name, _, doc in CONNECTION_COLUMNS]
    + [f"COMMENT ON COLUMN {BATCHES}.truncated_files IS 'Captures cut short, packets before the cut kept.';"]
)


def ensure_tables(conn) -> None:
    """Create the ``mqtt`` schema and its ingest tables if missing, and bring them to 0002."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('mqttids.ddl'))")
        cur.execute(DDL)
        cur.execute(UPGRADE_0002)
        cur.execute(COMMENTS)
    conn.commit()
