"""Which schema revision the jobs need, and a check that the warehouse has it.

The migrations (:mod:`mqttids.warehouse.migrations`) are the one owner of the tables; jobs never
create or change them. A job first reads ``mqtt.alembic_version`` with plain psycopg2 and refuses
to run unless it holds :data:`HEAD`: writing into an older shape would fail at the first insert,
or worse, succeed with the old meaning. No Alembic here, so jobs on Dataproc run without it.
Upgrading is an explicit step (``make db-upgrade``, or the DAGs' first task), never a side effect
of a job, so a job never changes the schema under another one that is running.
"""

from __future__ import annotations

from mqttids.runtime import db

# The newest revision in migrations/versions/. Raise it in the same commit that adds a revision:
# tests/warehouse/test_migrations.py fails until it equals Alembic's head.
HEAD = "0007"
VERSION_TABLE = "mqtt.alembic_version"
UPGRADE_COMMAND = "make db-upgrade"
UPGRADE_MODULE = "python -m mqttids.warehouse upgrade"


class WarehouseOutdated(RuntimeError):
    """The warehouse is not at the schema revision this code needs."""


def current(conn) -> str | None:
    """The revision recorded in the warehouse; None when it has no version table or no row."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,))
            if not cur.fetchone()[0]:
                return None
            cur.execute(f"SELECT version_num FROM {VERSION_TABLE}")
            return ", ".join(sorted(r[0] for r in cur.fetchall())) or None
    finally:
        conn.rollback()  # leave no transaction open on the caller's connection


def problem(found: str | None, where: str) -> str | None:
    """Why a warehouse at revision ``found`` cannot be used by this code, or None if it can."""
    if found == HEAD:
        return None
    how = f"run `{UPGRADE_COMMAND}` (or `{UPGRADE_MODULE} --db-url URL`); the DAGs do it in their first task"
    if found is None:
        return (
            f"the warehouse {where} has no schema revision (it is empty, or was created by a release "
            f"before migrations); this code needs revision {HEAD}: {how}"
        )
    return (
        f"the warehouse {where} is at schema revision {found}, this code needs {HEAD}: {how}. "
        f"If {found} is newer than {HEAD}, run the code that matches the warehouse instead"
    )


def require_head(url: str) -> None:
    """Raise WarehouseOutdated, naming the command to run, unless the warehouse is at HEAD."""
    conn = db.connect(url, application="mqttids-revision-check")
    try:
        found = current(conn)
    finally:
        conn.close()
    if message := problem(found, str(db.DbUrl.parse(url))):
        raise WarehouseOutdated(message)
