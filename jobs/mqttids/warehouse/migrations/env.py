"""How Alembic reaches the warehouse: one transaction, under a lock, version table in ``mqtt``.

Alembic runs this file for every command. Two upgrades started at once (both DAGs' first tasks,
say) take the same advisory lock, so the second waits and then finds nothing left to do. The
``mqtt`` schema is created first because the version table lives in it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from mqttids.runtime import db
from mqttids.warehouse.migrations import VERSION_SCHEMA, VERSION_TABLE

LOCK = "mqttids.migrations"


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL of a ``postgresql://`` URL (psycopg2 driver), parsed the way the jobs parse it."""
    target = db.DbUrl.parse(url)
    return URL.create(
        "postgresql+psycopg2",
        username=target.user,
        password=target.password or None,
        host=target.host,
        port=target.port,
        database=target.dbname,
    )


def run_migrations_online() -> None:
    url = context.config.attributes["url"]
    engine = create_engine(
        engine_url(url),
        poolclass=NullPool,
        connect_args={"application_name": "mqttids-migrations", "connect_timeout": 10},
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            version_table=VERSION_TABLE,
            version_table_schema=VERSION_SCHEMA,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:lock))"), {"lock": LOCK})
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}"))
            migration = context.get_context()
            # Read under the lock: what this run found and left, for the caller to report.
            context.config.attributes["before"] = migration.get_current_revision()
            context.run_migrations()
            context.config.attributes["after"] = migration.get_current_revision()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against the database")
run_migrations_online()
