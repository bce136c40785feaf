"""The one owner of the warehouse schema: Alembic migrations of the ``mqtt`` schema.

Every table of the warehouse is created and changed by a revision in ``versions/``, applied in
order by :func:`upgrade`; the revision a database is at is recorded in ``mqtt.alembic_version``
(in the warehouse itself, never in Airflow's metadata database, which has its own
``alembic_version``). Alembic is configured here, in code, so it works from any working
directory and needs no ``alembic.ini``.

This package is the only one that imports Alembic or SQLAlchemy. The jobs never do: they check
the recorded revision with plain psycopg2 (:mod:`mqttids.warehouse.revision`), so the Dataproc
code package, which ships without this folder, needs neither.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
VERSION_SCHEMA = "mqtt"
VERSION_TABLE = "alembic_version"


def config(url: str) -> Config:
    """Alembic's configuration for the warehouse at ``url``, built in code.

    The URL travels in ``attributes``, not in the ini options, where a ``%`` in a password would
    be taken for interpolation.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["url"] = url
    return cfg


def script_head() -> str:
    """The newest revision id among the migration files (exactly one: the history is linear)."""
    return ScriptDirectory.from_config(config("")).get_current_head()


Change = tuple[str | None, str | None]  # the revision before and after; None: no revision


def upgrade(url: str, revision: str = "head") -> Change:
    """Bring the warehouse at ``url`` to ``revision``; a no-op when it is there already."""
    cfg = config(url)
    command.upgrade(cfg, revision)
    return cfg.attributes["before"], cfg.attributes["after"]


def downgrade(url: str, revision: str) -> Change:
    """Take the warehouse back to ``revision`` (``base`` drops every table, data included)."""
    cfg = config(url)
    command.downgrade(cfg, revision)
    return cfg.attributes["before"], cfg.attributes["after"]


def history() -> list[tuple[str, str]]:
    """(revision id, first line of its docstring) of every migration, oldest first."""
    script = ScriptDirectory.from_config(config(""))
    return [
        (r.revision, (r.doc or "").strip().split("\n")[0]) for r in reversed(list(script.walk_revisions()))
    ]


def new_revision(rev_id: str, message: str) -> Path:
    """Write an empty revision file ``versions/<rev_id>_<slug>.py`` on top of the head."""
    script = command.revision(config(""), message=message, rev_id=rev_id)
    return Path(script.path)
