"""Feature levels (issue 11): models learn from packets, packets in context, or whole connections.

Revision ID: 0005
Revises: 0004

A learning run trains each model at up to three levels (``packet``, ``packet_context``,
``connection``; :data:`mqttids.connection.features.LEVELS`), so the learning tables gain a
``level`` column, part of their keys: ``mqtt.model_runs`` (run, level, model), its metrics and
confusion matrices, the run's feature decisions (each level keeps its own columns) and the
champion decisions (one champion per level, the slot being the registered model
``mqtt_ids_<level>``). Every existing row is a packet-level one. ``mqtt.model_runs.kind`` admits
``xgboost``, the gradient-boosted trees trainer. Downgrading deletes the rows of the other
levels (the old keys cannot hold them) and of xgboost models.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LEVELS = ("packet", "packet_context", "connection")
_LEVEL_CHECK = "CHECK (level IN (" + ", ".join(f"'{level}'" for level in LEVELS) + "))"
_RESULTS = ("model_metrics", "confusion_matrix")
_KEYS = {
    "model_metrics": "run_id, level, model, subset, metric, label",
    "confusion_matrix": "run_id, level, model, subset, actual, predicted",
}
_OLD_KEYS = {
    "model_metrics": "run_id, model, subset, metric, label",
    "confusion_matrix": "run_id, model, subset, actual, predicted",
}


def _add_level(table: str) -> None:
    op.execute(
        f"ALTER TABLE mqtt.{table} ADD COLUMN level text NOT NULL DEFAULT 'packet' "
        f"CONSTRAINT {table}_level_check {_LEVEL_CHECK}"
    )
    op.execute(
        f"COMMENT ON COLUMN mqtt.{table}.level IS "
        "'feature level: packet, packet_context (packet and its connection so far) or connection'"
    )


def upgrade() -> None:
    for table in _RESULTS:
        op.execute(f"ALTER TABLE mqtt.{table} DROP CONSTRAINT {table}_run_id_model_fkey")
    for table in ("model_runs", *_RESULTS, "feature_columns", "champion_decisions"):
        _add_level(table)
    op.execute("ALTER TABLE mqtt.model_runs DROP CONSTRAINT model_runs_pkey")
    op.execute("ALTER TABLE mqtt.model_runs ADD PRIMARY KEY (run_id, level, model)")
    op.execute("ALTER TABLE mqtt.model_runs DROP CONSTRAINT model_runs_kind_check")
    op.execute(
        "ALTER TABLE mqtt.model_runs ADD CONSTRAINT model_runs_kind_check "
        "CHECK (kind IN ('spark', 'keras', 'xgboost'))"
    )
    for table in _RESULTS:
        op.execute(f"ALTER TABLE mqtt.{table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE mqtt.{table} ADD PRIMARY KEY ({_KEYS[table]})")
        op.execute(
            f"ALTER TABLE mqtt.{table} ADD CONSTRAINT {table}_run_id_level_model_fkey "
            "FOREIGN KEY (run_id, level, model) REFERENCES mqtt.model_runs ON DELETE CASCADE"
        )
    op.execute("ALTER TABLE mqtt.feature_columns DROP CONSTRAINT feature_columns_pkey")
    op.execute("ALTER TABLE mqtt.feature_columns ADD PRIMARY KEY (run_id, level, column_name)")


def downgrade() -> None:
    """The single-level layout again: rows of the other levels, and xgboost models, are deleted."""
    for table in _RESULTS:
        op.execute(f"ALTER TABLE mqtt.{table} DROP CONSTRAINT {table}_run_id_level_model_fkey")
    op.execute("DELETE FROM mqtt.model_runs WHERE level <> 'packet' OR kind = 'xgboost'")
    for table in (*_RESULTS, "feature_columns", "champion_decisions"):
        op.execute(f"DELETE FROM mqtt.{table} WHERE level <> 'packet'")
    op.execute(
        "DELETE FROM mqtt.model_metrics m WHERE NOT EXISTS "
        "(SELECT 1 FROM mqtt.model_runs r WHERE (r.run_id, r.model) = (m.run_id, m.model))"
    )
    op.execute(
        "DELETE FROM mqtt.confusion_matrix m WHERE NOT EXISTS "
        "(SELECT 1 FROM mqtt.model_runs r WHERE (r.run_id, r.model) = (m.run_id, m.model))"
    )
    op.execute("ALTER TABLE mqtt.feature_columns DROP CONSTRAINT feature_columns_pkey")
    op.execute("ALTER TABLE mqtt.feature_columns ADD PRIMARY KEY (run_id, column_name)")
    op.execute("ALTER TABLE mqtt.model_runs DROP CONSTRAINT model_runs_kind_check")
    op.execute(
        "ALTER TABLE mqtt.model_runs ADD CONSTRAINT model_runs_kind_check CHECK (kind IN ('spark', 'keras'))"
    )
    op.execute("ALTER TABLE mqtt.model_runs DROP CONSTRAINT model_runs_pkey")
    op.execute("ALTER TABLE mqtt.model_runs ADD PRIMARY KEY (run_id, model)")
    for table in _RESULTS:
        op.execute(f"ALTER TABLE mqtt.{table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE mqtt.{table} ADD PRIMARY KEY ({_OLD_KEYS[table]})")
        op.execute(
            f"ALTER TABLE mqtt.{table} ADD CONSTRAINT {table}_run_id_model_fkey "
            "FOREIGN KEY (run_id, model) REFERENCES mqtt.model_runs ON DELETE CASCADE"
        )
    for table in ("model_runs", *_RESULTS, "feature_columns", "champion_decisions"):
        op.execute(f"ALTER TABLE mqtt.{table} DROP COLUMN level")
