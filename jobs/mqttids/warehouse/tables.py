"""Names of the ``mqtt`` schema's ingest tables, and the column order ingest writes.

The tables themselves are created and changed only by the migrations
(:mod:`mqttids.warehouse.migrations`). ``mqtt.packets`` is list-partitioned by
``batch_date``: a batch is loaded into a fresh table and swapped in as that date's partition
in one short transaction, so a rerun replaces its batch atomically and a killed load never
leaves a half-loaded batch visible. Its 34 MQTTset columns and their CHECK constraints follow
:mod:`mqttids.schema` (tests/warehouse checks that the migrated table still does).
"""

from __future__ import annotations

from mqttids.schema import COLUMNS

SCHEMA = "mqtt"
PACKETS = f"{SCHEMA}.packets"
REJECTED = f"{SCHEMA}.rejected_rows"
BATCHES = f"{SCHEMA}.ingest_batches"

# The tables the stages write their results to (their DDL is in the migrations' revisions). The
# names live here because more than one stage reads them (the report reads them all, and stages
# never import each other).
AVG_MQTT_LEN = f"{SCHEMA}.avg_mqtt_len"  # analytics, keyed by run_id (the Airflow run id)
AVG_TCP_LEN = f"{SCHEMA}.avg_tcp_len_by_target"
TOP_TCP_FLAGS = f"{SCHEMA}.top_tcp_flags"
CLASS_HISTOGRAM = f"{SCHEMA}.class_histogram"
TOP_HDRFLAGS = f"{SCHEMA}.top_hdrflags_by_target"
MODEL_RUNS = f"{SCHEMA}.model_runs"  # learning, keyed by run_id (the Airflow run id)
MODEL_METRICS = f"{SCHEMA}.model_metrics"
CONFUSION = f"{SCHEMA}.confusion_matrix"
FEATURE_COLUMNS = f"{SCHEMA}.feature_columns"
CHAMPION_DECISIONS = f"{SCHEMA}.champion_decisions"
TWEET_STREAM_RUNS = f"{SCHEMA}.tweet_stream_runs"  # stream, keyed by run_id (the Airflow run id)
TWEET_TERM_COUNTS = f"{SCHEMA}.tweet_term_counts"
DETECTIONS = f"{SCHEMA}.detections"  # detection: scored connections, batch and live (revision 0006)
DETECTION_SUMMARY = f"{SCHEMA}.detection_summary"

# Columns ingest adds in front of the 34 MQTTset columns.
LOAD_COLUMNS: tuple[str, ...] = ("batch_date", "split", "source_file", "part_no")
# Columns that tie a packet to its TCP connection (revision 0002, which documents them): NULL for
# the train/test CSVs, which dropped them. Built by ingest from tcp.stream, frame.number and
# frame.time_epoch.
CONNECTION_COLUMNS: tuple[str, ...] = ("connection_id", "capture_time", "connection_seq")
PACKET_COLUMNS: tuple[str, ...] = LOAD_COLUMNS + tuple(c.name for c in COLUMNS) + CONNECTION_COLUMNS
