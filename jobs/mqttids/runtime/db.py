"""Database URLs and connections.

One URL (``postgresql://user:pass@host:port/db``) configures everything:
psycopg2 connects with it as is, and Spark's JDBC reader gets the same
server as ``jdbc:postgresql://host:port/db`` plus user and password
properties, so the password never appears in a JDBC URL or a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg2

from mqttids.runtime import config

log = logging.getLogger(__name__)


class DatabaseUnreachable(RuntimeError):
    """The configured PostgreSQL server did not accept a connection."""


@dataclass(frozen=True)
class DbUrl:
    """A parsed ``postgresql://`` URL."""

    host: str
    port: int
    dbname: str
    user: str
    password: str

    @classmethod
    def parse(cls, url: str) -> DbUrl:
        parts = urlsplit(url)
        # SQLAlchemy-style URLs (postgresql+psycopg2://, as PostgresHook renders them) are fine too.
        if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError(f"not a postgresql:// URL: {redact(url)}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
        )

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.dbname}"

    @property
    def jdbc_properties(self) -> dict[str, str]:
        props = {"user": self.user, "driver": "org.postgresql.Driver"}
        if self.password:
            props["password"] = self.password
        return props

    def __str__(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


def redact(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def resolve_url(url: str | None = None) -> str:
    """The URL: the argument, else MQTTIDS_DB_URL, MQTTIDS_DB_URL_FILE, MQTTIDS_DB_SECRET, else embedded."""
    url = url or config.DB_URL.get()
    if url:
        return url
    if config.DB_URL_FILE.get():
        return read_url_file(config.DB_URL_FILE.get())
    if config.DB_SECRET.get():
        from mqttids.runtime import gcp_secret

        return gcp_secret.read(config.DB_SECRET.get())
    from mqttids.runtime import embedded_db

    return embedded_db.ensure_running()


def read_url_file(path: str) -> str:
    """The URL kept in a file (Airflow hands it to Spark jobs so); a clear error if it is not there."""
    try:
        url = Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise DatabaseUnreachable(f"cannot read the database URL file {path}: {err.strerror}") from err
    if not url:
        raise DatabaseUnreachable(f"the database URL file {path} is empty")
    return url


def connect(url: str, *, application: str = "mqttids"):
    """A psycopg2 connection, or a clear DatabaseUnreachable error."""
    db = DbUrl.parse(url)
    try:
        return psycopg2.connect(
            host=db.host,
            port=db.port,
            dbname=db.dbname,
            user=db.user,
            password=db.password or None,
            application_name=application,
            connect_timeout=10,
        )
    except psycopg2.OperationalError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatabaseUnreachable(f"cannot connect to PostgreSQL at {db}: {reason}") from err
