"""Dead letters of the tweet stream: messages the consumer could not decode (issue 14).

One malformed Kafka message used to stop the tweet stream for good: the consumer failed on it
and, its offsets not moving, every later run failed on it again. The consumer now quarantines
such a message here (where it was read, its first 4096 bytes, its full size, the run it named if
any, and why) in the same transaction as the offsets that move past it, and goes on. The primary
key is the message's place in the topic, so a redelivered batch inserts nothing twice.

Frozen SQL: it never follows later changes of the code.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
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
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS mqtt.tweet_stream_dead_letters")
