"""Dead letters of the tweet stream: messages the consumer could not decode (issue 14).

One malformed Kafka message used to stop the tweet stream for good: the consumer failed on it
and, its offsets not moving, every later run failed on it again. The consumer now quarantines
such a message in ``mqtt.tweet_stream_dead_letters`` (where it was read, its first 4096 bytes,
its full size, the run it named if any, and why) in the same transaction as the offsets that
move past it, and goes on. The primary key is the message's place in the topic, so a redelivered
batch inserts nothing twice.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Literal SQL, never generated from the code at run time: a revision must not change later.
UPGRADE = """
CREATE TABLE IF NOT EXISTS mqtt.tweet_stream_dead_letters (
  consumer text NOT NULL,
  topic text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset bigint NOT NULL,
  run_id text,
  raw bytea,
  raw_bytes integer NOT NULL CHECK (raw_bytes >= 0),
  reason text NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, topic, kafka_partition, kafka_offset)
);
COMMENT ON TABLE mqtt.tweet_stream_dead_letters IS
  'Messages the tweet consumer could not decode: where, its first 4096 bytes, its size, why.';
COMMENT ON COLUMN mqtt.tweet_stream_dead_letters.run_id IS
  'The run the message named, when it was JSON with a string run_id; else NULL.';
COMMENT ON COLUMN mqtt.tweet_stream_dead_letters.raw IS
  'The first 4096 bytes of the message value; NULL for a message without a value.';
COMMENT ON COLUMN mqtt.tweet_stream_dead_letters.raw_bytes IS 'Full size of the message value in bytes.';
COMMENT ON COLUMN mqtt.tweet_stream_dead_letters.reason IS
  'Why it could not be decoded, e.g. not UTF-8, not JSON, a field missing or of the wrong type.';
"""

DOWNGRADE = """
DROP TABLE IF EXISTS mqtt.tweet_stream_dead_letters;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
