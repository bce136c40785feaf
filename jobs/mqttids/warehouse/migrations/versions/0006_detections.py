"""Detections (issue 11, section 3): traffic nobody labelled, scored by the champion of each level.

- ``mqtt.detections``: one row per scored connection (or connection window) of a capture, batch
  or live: capture, connection, window, first and last packet time, packets, the predicted class
  and the probability of each class, the model and version that said so. Batch rows replace
  their capture's rows; live rows are alerts (one per capture, level, connection and attack
  class), with the Kafka place and publish time of the packet that raised them, and
  ``alert_sent`` for the alerts topic (an outbox: set once the alert is on the topic).
- ``mqtt.detection_summary``: per capture, level and predicted class, connections and packets.
- ``mqtt.detection_offsets``: the live consumer's Kafka offsets, committed with its rows.
- ``mqtt.detection_state``: the live consumer's per-connection state, committed with its rows, so
  a restarted consumer goes on where the killed one stopped.
- ``mqtt.detection_ends``: end-of-capture markers the live consumer has read.
- ``mqtt.detection_dead_letters``: messages the live consumer could not decode.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Literal SQL, never generated from the code at run time: a revision must not change later.
UPGRADE = """
CREATE TABLE IF NOT EXISTS mqtt.detections (
  detection_id bigserial PRIMARY KEY,
  source text NOT NULL CHECK (source IN ('batch', 'live')),
  capture text NOT NULL,
  level text NOT NULL,
  connection_id bigint NOT NULL,
  window_no integer NOT NULL DEFAULT 0 CHECK (window_no >= 0),
  first_time timestamptz,
  last_time timestamptz,
  packets integer NOT NULL CHECK (packets > 0),
  predicted text NOT NULL,
  prob_legitimate double precision NOT NULL,
  prob_dos double precision NOT NULL,
  prob_bruteforce double precision NOT NULL,
  prob_malformed double precision NOT NULL,
  prob_slowite double precision NOT NULL,
  prob_flood double precision NOT NULL,
  model text NOT NULL,
  model_version text NOT NULL,
  mlflow_run_id text NOT NULL,
  run_id text,
  kafka_partition integer,
  kafka_offset bigint,
  published_at timestamptz,
  alert_sent boolean,
  scored_at timestamptz NOT NULL DEFAULT now(),
  stored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (capture, level, connection_id, window_no, predicted)
);
CREATE INDEX IF NOT EXISTS detections_unsent ON mqtt.detections (detection_id) WHERE alert_sent = false;
COMMENT ON TABLE mqtt.detections IS
  'Connections (or windows of them) scored by a champion: batch scores, and live alerts.';
COMMENT ON COLUMN mqtt.detections.capture IS
  'The scored file (batch), or the capture name the live producer published under.';
COMMENT ON COLUMN mqtt.detections.connection_id IS 'tshark tcp.stream within the capture.';
COMMENT ON COLUMN mqtt.detections.window_no IS
  'Window of a long connection (connection level); 0 for the per-packet levels and live alerts.';
COMMENT ON COLUMN mqtt.detections.predicted IS
  'Batch, per-packet levels: the class of the mean of the packets'' probabilities. Live: the alert class.';
COMMENT ON COLUMN mqtt.detections.packets IS
  'Packets of the connection or window (batch); packets of the connection so far (live).';
COMMENT ON COLUMN mqtt.detections.published_at IS
  'Live: when the producer published the packet that raised the alert.';
COMMENT ON COLUMN mqtt.detections.alert_sent IS
  'Live: whether the alert is on the alerts topic yet (outbox); NULL for batch rows.';

CREATE TABLE IF NOT EXISTS mqtt.detection_summary (
  capture text NOT NULL,
  level text NOT NULL,
  predicted text NOT NULL,
  connections integer NOT NULL CHECK (connections >= 0),
  packets bigint NOT NULL CHECK (packets >= 0),
  model text NOT NULL,
  model_version text NOT NULL,
  run_id text,
  scored_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (capture, level, predicted)
);
COMMENT ON TABLE mqtt.detection_summary IS
  'Per scored capture and level: connections (or windows) and their packets per predicted class.';

CREATE TABLE IF NOT EXISTS mqtt.detection_offsets (
  consumer text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  next_offset bigint NOT NULL CHECK (next_offset >= 0),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, topic, kafka_partition)
);
COMMENT ON TABLE mqtt.detection_offsets IS
  'The live consumer''s next Kafka offset per partition, committed with the rows it covers.';

CREATE TABLE IF NOT EXISTS mqtt.detection_state (
  consumer text NOT NULL,
  capture text NOT NULL,
  connection_id bigint NOT NULL,
  state bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, capture, connection_id)
);
COMMENT ON TABLE mqtt.detection_state IS
  'The live consumer''s per-connection state (packets so far, features), committed with its offsets.';

CREATE TABLE IF NOT EXISTS mqtt.detection_ends (
  consumer text NOT NULL,
  capture text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  partitions integer NOT NULL CHECK (partitions > 0),
  read_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, capture, topic, kafka_partition)
);
COMMENT ON TABLE mqtt.detection_ends IS 'End-of-capture markers of the live producer, as read.';

CREATE TABLE IF NOT EXISTS mqtt.detection_dead_letters (
  consumer text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset bigint NOT NULL,
  raw bytea,
  raw_bytes integer NOT NULL CHECK (raw_bytes >= 0),
  reason text NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, topic, kafka_partition, kafka_offset)
);
COMMENT ON TABLE mqtt.detection_dead_letters IS
  'Messages the live consumer could not decode: where, their first 4096 bytes, size, why.';
"""

DOWNGRADE = """
DROP TABLE IF EXISTS mqtt.detection_dead_letters;
DROP TABLE IF EXISTS mqtt.detection_ends;
DROP TABLE IF EXISTS mqtt.detection_state;
DROP TABLE IF EXISTS mqtt.detection_offsets;
DROP TABLE IF EXISTS mqtt.detection_summary;
DROP TABLE IF EXISTS mqtt.detections;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
