"""The Airflow connections the platform uses, and nothing else.

``mqttids_db`` is the warehouse (PostgreSQL); ``spark_default`` is where
spark-submit sends jobs. Both are defined outside the code: as Airflow
connections in the UI or CLI, or as ``AIRFLOW_CONN_*`` environment variables
(``make run`` and ``make airflow`` set them from ``MQTTIDS_DB_URL`` or the
embedded server).
"""

from __future__ import annotations

WAREHOUSE_CONN_ID = "mqttids_db"
SPARK_CONN_ID = "spark_default"


def warehouse_hook():
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID)


def warehouse_url() -> str:
    """The warehouse as a postgresql:// URL, for jobs outside Airflow's process."""
    return warehouse_hook().get_uri()
