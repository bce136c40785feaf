"""Every setting of the platform, read from the environment in one place.

Each setting has a safe local default, so a fresh checkout runs with none of
them set. The README's configuration table documents the same names; keep
the two in step (a test checks that every name here appears there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default and meaning."""

    name: str
    default: str
    doc: str

    def get(self) -> str:
        return os.environ.get(self.name, "") or self.default


DB_URL = Setting(
    "MQTTIDS_DB_URL",
    "",
    "PostgreSQL URL (postgresql://user:pass@host:port/db). Empty: the embedded server.",
)
STATE_DIR = Setting(
    "MQTTIDS_STATE_DIR",
    str(PROJECT_ROOT / ".local"),
    "Where the embedded PostgreSQL data directory and Airflow home live.",
)
DATA_DIR = Setting(
    "MQTTIDS_DATA_DIR",
    str(PROJECT_ROOT / "data"),
    "Where generated samples and landing batches are written.",
)
LANDING_URI = Setting(
    "MQTTIDS_LANDING_URI",
    str(PROJECT_ROOT / "data" / "landing"),
    "Root of daily landing batches (<root>/<YYYY-MM-DD>/train*.csv); local path or gs://.",
)
JDBC_JAR = Setting(
    "POSTGRES_JDBC_JAR",
    "",
    "Path to the PostgreSQL JDBC jar. Empty: /usr/share/java/postgresql.jar, else Maven.",
)
JDBC_PACKAGE = Setting(
    "MQTTIDS_JDBC_PACKAGE",
    "org.postgresql:postgresql:42.7.4",
    "Maven coordinates used through spark.jars.packages when no jar is found locally.",
)
SPARK_MASTER = Setting(
    "MQTTIDS_SPARK_MASTER",
    "local[*]",
    "Spark master for jobs run outside Airflow (Airflow uses the spark_default connection).",
)
MAX_REJECT_RATIO = Setting(
    "MQTTIDS_MAX_REJECT_RATIO",
    "0.01",
    "Quality gate: the largest share of rejected rows a batch may have.",
)
SCHEDULE = Setting(
    "MQTTIDS_SCHEDULE",
    "@daily",
    "Schedule of mqtt_pipeline (cron, preset such as @daily, or 'none' for manual only).",
)
TASK_RETRIES = Setting(
    "MQTTIDS_TASK_RETRIES",
    "2",
    "Retries of each pipeline task (make run and the tests use 0 to fail fast).",
)
ARTIFACTS_URI = Setting(
    "MQTTIDS_ARTIFACTS_URI",
    str(PROJECT_ROOT / ".local" / "artifacts"),
    "Root of learning runs' files (features, models, predictions, plots); local path or gs://.",
)
TUNE_ROWS = Setting(
    "MQTTIDS_TUNE_ROWS",
    "50000",
    "Cross-validation tunes on a stratified sample of about this many train rows; 0: all rows.",
)

ALL_SETTINGS: tuple[Setting, ...] = (
    DB_URL,
    STATE_DIR,
    DATA_DIR,
    LANDING_URI,
    JDBC_JAR,
    JDBC_PACKAGE,
    SPARK_MASTER,
    MAX_REJECT_RATIO,
    SCHEDULE,
    TASK_RETRIES,
    ARTIFACTS_URI,
    TUNE_ROWS,
)
