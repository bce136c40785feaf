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

# Columns ingest adds in front of the 34 MQTTset columns.
LOAD_COLUMNS: tuple[str, ...] = ("batch_date", "split", "source_file", "part_no")
# Columns that tie a packet to its TCP connection (revision 0002, which documents them): NULL for
# the train/test CSVs, which dropped them. Built by ingest from tcp.stream, frame.number and
# frame.time_epoch.
CONNECTION_COLUMNS: tuple[str, ...] = ("connection_id", "capture_time", "connection_seq")
PACKET_COLUMNS: tuple[str, ...] = LOAD_COLUMNS + tuple(c.name for c in COLUMNS) + CONNECTION_COLUMNS
