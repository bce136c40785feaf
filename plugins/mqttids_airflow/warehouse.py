"""The DAGs' first task: bring the warehouse schema to the head revision.

Jobs refuse to run against an older revision (:mod:`mqttids.warehouse.revision`), so every DAG
run upgrades first, through the same ``mqttids_db`` connection its jobs use. Upgrading is
idempotent and serialised by an advisory lock, so concurrent runs of both DAGs are safe, and it
runs in the Airflow worker: jobs on Dataproc never need Alembic.
"""

from __future__ import annotations

from mqttids_airflow import connections

TASK_ID = "upgrade_warehouse"


def upgrade() -> str:
    """Apply the missing migrations; returns the revision the warehouse is now at."""
    from mqttids.runtime import db
    from mqttids.warehouse import migrations

    url = connections.warehouse_url()
    before, after = migrations.upgrade(url)
    change = f"upgraded from {before or 'no revision'} to" if before != after else "already at"
    print(f"warehouse {db.DbUrl.parse(url)}: {change} schema revision {after}")
    return after
