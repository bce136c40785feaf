"""Connection columns (issue 10): packets of captures and per-class CSVs keep their TCP connection.

- ``mqtt.packets.connection_id`` (bigint): file number in ``ingest_batches.sources`` * 2^32 +
  tshark's ``tcp.stream``; unique within a batch. NULL for the train/test CSVs.
- ``mqtt.packets.capture_time`` (timestamptz): ``frame.time_epoch``.
- ``mqtt.packets.connection_seq`` (integer): the packet's position in its connection, from 1.
- ``mqtt.packets.target`` may be NULL: packets of a capture whose name matches no class of the
  label map, kept for scoring (ingest allows that for captures only).
- ``mqtt.ingest_batches.truncated_files`` (text[]): captures that were cut short.

No address or port is stored: tcp.stream is tshark's own connection number, which already
tells apart connections that reuse an address and port pair.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE mqtt.packets ADD COLUMN IF NOT EXISTS connection_id bigint")
    op.execute("ALTER TABLE mqtt.packets ADD COLUMN IF NOT EXISTS capture_time timestamptz")
    op.execute("ALTER TABLE mqtt.packets ADD COLUMN IF NOT EXISTS connection_seq integer")
    op.execute("ALTER TABLE mqtt.packets ALTER COLUMN target DROP NOT NULL")
    op.execute(
        "ALTER TABLE mqtt.ingest_batches "
        "ADD COLUMN IF NOT EXISTS truncated_files text[] NOT NULL DEFAULT '{}'"
    )
    op.execute(
        "COMMENT ON COLUMN mqtt.packets.connection_id IS "
        "'file number in ingest_batches.sources * 2^32 + tshark tcp.stream'"
    )
    op.execute(
        "COMMENT ON COLUMN mqtt.packets.capture_time IS 'when the packet was captured (frame.time_epoch)'"
    )
    op.execute(
        "COMMENT ON COLUMN mqtt.packets.connection_seq IS "
        "'position of the packet in its connection, from 1 (frame.number order)'"
    )
    op.execute(
        "COMMENT ON COLUMN mqtt.ingest_batches.truncated_files IS "
        "'captures cut short: their packets before the cut were loaded'"
    )


def downgrade() -> None:
    # Unlabelled capture rows cannot satisfy NOT NULL again: they go first.
    op.execute("DELETE FROM mqtt.packets WHERE target IS NULL")
    op.execute("ALTER TABLE mqtt.packets ALTER COLUMN target SET NOT NULL")
    op.execute("ALTER TABLE mqtt.packets DROP COLUMN IF EXISTS connection_seq")
    op.execute("ALTER TABLE mqtt.packets DROP COLUMN IF EXISTS capture_time")
    op.execute("ALTER TABLE mqtt.packets DROP COLUMN IF EXISTS connection_id")
    op.execute("ALTER TABLE mqtt.ingest_batches DROP COLUMN IF EXISTS truncated_files")
