"""The live consumer's per-capture state (issue 11): the peers behind packet_context.

``packet_context`` counts a packet's peers, the traffic of its capture in the seconds before it
(:mod:`mqttids.connection.peers`). The live consumer keeps those counts per capture, beside the
per-connection state of ``mqtt.detection_state``, and commits them with its offsets, so a
restarted consumer counts on where the killed one stopped.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Literal SQL, never generated from the code at run time: a revision must not change later.
UPGRADE = """
CREATE TABLE IF NOT EXISTS mqtt.detection_peers (
  consumer text NOT NULL,
  capture text NOT NULL,
  state bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, capture)
);
COMMENT ON TABLE mqtt.detection_peers IS
  'The live consumer''s per-capture peer counts (packets, opens, open connections), committed with its offsets.';
"""

DOWNGRADE = """
DROP TABLE IF EXISTS mqtt.detection_peers;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
