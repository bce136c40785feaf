"""The Airflow connections the platform uses, and nothing else.

``mqttids_db`` is the warehouse (PostgreSQL); ``spark_default`` is where
spark-submit sends jobs. Both are defined outside the code: as Airflow
connections in the UI or CLI, or as ``AIRFLOW_CONN_*`` environment variables
(``make run`` and ``make airflow`` set them from ``MQTTIDS_DB_URL`` or the
embedded server).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, urlsplit

WAREHOUSE_CONN_ID = "mqttids_db"
SPARK_CONN_ID = "spark_default"


def warehouse_hook():
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID)


def warehouse_url() -> str:
    """The warehouse as a postgresql:// URL, for jobs outside Airflow's process.

    Every form its password can take in a log line (raw, percent-encoded as in
    the URL, form-encoded, and the whole URL) is registered with Airflow's
    secrets masker first: Airflow masks a connection's raw password, but a
    message that quotes the URL shows the encoded one.
    """
    url = warehouse_hook().get_uri()
    mask_url(url)
    return url


def mask_url(url: str) -> None:
    """Register the URL and each spelling of its password with Airflow's secrets masker."""
    from airflow.sdk.log import mask_secret

    mask_secret(url)
    encoded = urlsplit(url).password
    if encoded:
        raw = unquote(encoded)
        for form in {raw, encoded, quote(raw, safe=""), quote_plus(raw), quote(raw)}:
            mask_secret(form)


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a new file only its owner can read (0600), for handing a secret to a job."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return path
