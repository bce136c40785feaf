"""MLflow holds the models: mqtt.model_runs links to MLflow, mqtt.champion becomes the @champion alias.

Revision ID: 0004
Revises: 0003

mqtt.model_runs loses the columns MLflow now holds (params, grid, CV scores and times, the
artifact, feature and plot URIs) and gains the MLflow run and registered version of each
model. mqtt.champion is replaced by the alias ``@champion`` of the registered model, and
mqtt.champion_decisions records the versions compared. Nothing is thrown away: the old
rows and columns are kept in mqtt.model_runs_pre_mlflow and mqtt.champion_pre_mlflow, and
downgrade() puts them back.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MOVED_TO_MLFLOW = (
    "params",
    "grid",
    "cv_metric",
    "cv_score",
    "cv_folds",
    "cv_seconds",
    "fit_seconds",
    "tune_rows",
    "train_rows",
    "artifact_uri",
    "features_uri",
    "plot_uri",
)
# The champion slot of the single pre-MLflow champion: the packet-level registered model.
OLD_SLOT, NEW_SLOT = "mqtt_ids", "mqtt_ids_packet"


def upgrade() -> None:
    op.execute("CREATE TABLE mqtt.model_runs_pre_mlflow AS TABLE mqtt.model_runs")
    op.execute(
        "COMMENT ON TABLE mqtt.model_runs_pre_mlflow IS "
        "'mqtt.model_runs as it was before MLflow held the models (revision 0004)'"
    )
    for column in MOVED_TO_MLFLOW:
        op.execute(f"ALTER TABLE mqtt.model_runs DROP COLUMN {column}")
    # Rows registered before MLflow have no MLflow run: NULL, with their history kept above.
    op.execute(
        "ALTER TABLE mqtt.model_runs ADD COLUMN mlflow_run_id text, "
        "ADD COLUMN registered_model text, ADD COLUMN model_version text"
    )
    op.execute("ALTER TABLE mqtt.champion RENAME TO champion_pre_mlflow")
    op.execute(
        "ALTER TABLE mqtt.champion_decisions ADD COLUMN challenger_version text, "
        "ADD COLUMN champion_version text"
    )
    op.execute(f"UPDATE mqtt.champion_decisions SET slot = '{NEW_SLOT}' WHERE slot = '{OLD_SLOT}'")


OLD_TYPES = {
    "params": "jsonb",
    "grid": "jsonb",
    "cv_metric": "text",
    "cv_score": "double precision",
    "cv_folds": "integer",
    "cv_seconds": "double precision",
    "fit_seconds": "double precision",
    "tune_rows": "bigint",
    "train_rows": "bigint",
    "artifact_uri": "text",
    "features_uri": "text",
    "plot_uri": "text",
}


def downgrade() -> None:
    """The old layout again; rows registered through MLflow keep NULL in the old columns."""
    op.execute(f"UPDATE mqtt.champion_decisions SET slot = '{OLD_SLOT}' WHERE slot = '{NEW_SLOT}'")
    op.execute(
        "ALTER TABLE mqtt.champion_decisions DROP COLUMN challenger_version, DROP COLUMN champion_version"
    )
    op.execute("ALTER TABLE mqtt.champion_pre_mlflow RENAME TO champion")
    op.execute(
        "ALTER TABLE mqtt.model_runs " + ", ".join(f"ADD COLUMN {c} {t}" for c, t in OLD_TYPES.items())
    )
    op.execute(
        "UPDATE mqtt.model_runs r SET "
        + ", ".join(f"{c} = p.{c}" for c in OLD_TYPES)
        + " FROM mqtt.model_runs_pre_mlflow p WHERE (r.run_id, r.model) = (p.run_id, p.model)"
    )
    op.execute(
        "ALTER TABLE mqtt.model_runs DROP COLUMN mlflow_run_id, DROP COLUMN registered_model, "
        "DROP COLUMN model_version"
    )
    op.execute("DROP TABLE mqtt.model_runs_pre_mlflow")
